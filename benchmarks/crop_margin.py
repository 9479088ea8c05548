"""Which crop margin around a detected face, and whether turning it upright by the eyes, gives the
emotion models their best accuracy on photos.

    python benchmarks/crop_margin.py [--out benchmarks/results/crop_margin.json]

Runs CenterFace on the uncropped muxspace photos (../shared/data/muxspace), crops the largest face
with each margin, as is and rotated so the eyes are level, and scores the shipped ONNX models on them
(flip TTA, as `Analyzer` does).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from paths import SHARED

from moodlens.data.labels import EMOTIONS
from moodlens.data.readers import list_dataset
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.crops import crop_faces
from moodlens.runtime.detection import load_detector
from moodlens.runtime.imaging import read_image
from moodlens.runtime.weights import resolve_onnx

MARGINS = (-0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.6)


def crop(photo, model: OnnxClassifier, margin: float, align: bool) -> np.ndarray:
    image, face = photo
    eyes = [face.eyes] if align else None
    return crop_faces(image, [face.box], model.image_size, model.channels, margin, eyes)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/crop_margin.json")
    args = parser.parse_args()
    listing = list_dataset(SHARED / "muxspace")
    detector = load_detector("centerface", threads=1)
    photos, labels, no_face = [], [], 0
    for item in listing.items:
        image = read_image(listing.read_bytes(item))
        found = detector.detect(image)
        if not found:
            no_face += 1
            continue
        photos.append((image, max(found, key=lambda d: d.box[2] * d.box[3])))
        labels.append(item.label)
    results = {"photos": len(listing.items), "no_face": no_face, "models": {}}
    for name in ("default", "ferplus"):
        model = OnnxClassifier(resolve_onnx(name), threads=1)
        known = [i for i, label in enumerate(labels) if label in model.labels]
        y = np.array([model.labels.index(labels[i]) for i in known])
        scores: dict[str, dict[str, float]] = {"upright_box": {}, "eyes_level": {}}
        for margin in MARGINS:
            for way, align in (("upright_box", False), ("eyes_level", True)):
                crops = np.stack([crop(photos[i], model, margin, align) for i in known])
                scores[way][str(margin)] = float((model.predict(crops, tta="flip").argmax(1) == y).mean())
        results["models"][name] = {"faces": len(known), "accuracy_by_margin": scores}
        print(name, json.dumps(results["models"][name]))
    results["labels_seen"] = sorted(set(labels), key=EMOTIONS.index)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
