"""How emotion accuracy falls with face size: the evidence for the size below which no emotion is reported.

    python benchmarks/readable_size.py [--out benchmarks/results/readable_size.json]

A face w pixels wide reaches the model as a square of (1 + MARGIN) * w pixels resized to 48x48. So each
real 48x48 crop is shrunk to the square a w-pixel face would give, then resized back to 48x48 with the
linear interpolation of the shipped (eye-aligned) crop path, and classified by the shipped ONNX models
with flip TTA, as `moodlens analyze` does. Faces: FER+ FER2013Valid (majority label; `default`, `ferplus`),
FER-2013 PublicTest (`fer2013`), and the muxspace photos cut around their largest detected face (`ferplus`,
`fer2013`). The readable width is chosen on `default`, the model users get.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np
from paths import SHARED

from moodlens.data.faces import FaceData, load_dataset
from moodlens.data.photo_faces import largest_face_crops
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.crops import MARGIN
from moodlens.runtime.detection import load_detector
from moodlens.runtime.metrics import classification_metrics, confusion_matrix
from moodlens.runtime.weights import resolve_onnx
from moodlens.training.data import class_index

WIDTHS = [6, 8, 10, 12, 16, 20, 24, 32, 40]  # 40 px: the 48-px crop at its own resolution
KEPT = 0.8  # a face is readable where the default model keeps this share of its full-size accuracy


def as_if_width(faces: np.ndarray, width: int) -> np.ndarray:
    """The 48x48 crops as they would look had the face been `width` pixels wide in the photo."""
    side = max(1, round(width * (1 + MARGIN)))
    out = np.empty_like(faces)
    for i, face in enumerate(faces[..., 0]):
        small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        out[i, ..., 0] = cv2.resize(small, face.shape[::-1], interpolation=cv2.INTER_LINEAR)
    return out


def scores(model: str, data: FaceData) -> dict:
    classifier = OnnxClassifier(resolve_onnx(model), threads=2)
    y = class_index(data, classifier.labels)
    faces = data.images[y >= 0]
    y = y[y >= 0]
    by_width = {}
    for width in WIDTHS:
        predicted = classifier.predict(as_if_width(faces, width), tta="flip").argmax(1)
        metrics = classification_metrics(confusion_matrix(y, predicted, len(classifier.labels)), classifier.labels)
        by_width[str(width)] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
    return {"faces": len(y), "by_width": by_width}


def readable_width(sets: dict, model: str) -> int:
    """The narrowest width from which on `model` keeps KEPT of its full-size accuracy on every one of its sets."""

    def kept(width: int) -> bool:
        return all(
            r["by_width"][str(width)]["accuracy"] >= KEPT * r["by_width"][str(WIDTHS[-1])]["accuracy"]
            for r in sets.values()
            if r["model"] == model
        )

    return next(w for i, w in enumerate(WIDTHS) if all(kept(v) for v in WIDTHS[i:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/readable_size.json")
    args = parser.parse_args()
    detector = load_detector("centerface", threads=2)
    photos, _ = largest_face_crops(SHARED / "muxspace", detector, 48, 1)
    ferplus_valid = load_dataset(SHARED / "ferplus" / "FER2013Valid")
    # `default` learnt from the muxspace photos, so they are not among its sets
    sets = {
        "default on FER+ FER2013Valid": ("default", ferplus_valid),
        "ferplus on FER+ FER2013Valid": ("ferplus", ferplus_valid),
        "fer2013 on FER-2013 PublicTest": ("fer2013", load_dataset(SHARED / "fer2013" / "val")),
        "ferplus on muxspace photos": ("ferplus", photos),
        "fer2013 on muxspace photos": ("fer2013", photos),
    }
    results = {}
    for name, (model, data) in sets.items():
        results[name] = {"model": model, **scores(model, data)}
        row = "  ".join(f"{w}px {r['accuracy']:.3f}" for w, r in results[name]["by_width"].items())
        print(f"{name} ({results[name]['faces']} faces): {row}")
    meta = {"cores": os.cpu_count(), "margin": MARGIN, "interpolation": "INTER_AREA down, INTER_LINEAR up"}
    rule = f"narrowest width from which on `default` keeps {KEPT:.0%} of its 40-px accuracy on each of its sets"
    cutoff = {"readable_width": readable_width(results, "default"), "rule": rule}
    print(f"readable from {cutoff['readable_width']} px ({rule})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, **cutoff, "sets": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
