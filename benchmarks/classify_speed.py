"""Faces classified per second through ONNX Runtime by the shipped models, or the models given, on this machine.

    python benchmarks/classify_speed.py [MODEL ...] [--data ../shared/data/fer2013/val]

Exports each shipped model, or each MODEL given (shipped name, run directory or .pt), to fp32 and to int8
where int8 keeps its accuracy, then times OnnxClassifier.predict on real faces at the model's input size at
batch sizes 1, 32 and 256, with and without flip TTA. Writes benchmarks/results/classify_speed.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from pathlib import Path

import onnxruntime
from timing import machine

from moodlens.data.faces import load_dataset
from moodlens.evaluation.export import export
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.hardware import amx_supported
from moodlens.runtime.weights import WEIGHTS_DIR


def faces_per_second(classifier: OnnxClassifier, faces, batch: int, tta: str | None, seconds: float = 3.0) -> float:
    classifier.predict(faces[:batch], batch, tta)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        chunk = faces[done % (len(faces) - batch) :][:batch]
        classifier.predict(chunk, batch, tta)
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="models to time (default: every shipped model)")
    parser.add_argument("--data", default="../shared/data/fer2013/val")
    parser.add_argument("--calibration", default="../shared/data/ferplus/FER2013Train")
    parser.add_argument("--out", default="benchmarks/results/classify_speed.json")
    args = parser.parse_args()
    threads = os.cpu_count()  # every core, as ONNX Runtime takes them by default
    faces_of = functools.cache(lambda size, channels: load_dataset(args.data, size, channels).images)
    scratch = Path(tempfile.mkdtemp())
    rows = []
    for number, model in enumerate(args.models or sorted(weights.stem for weights in WEIGHTS_DIR.glob("*.pt"))):
        exported = export(model, str(scratch / f"{number}.onnx"), args.data, args.calibration)
        paths = {"fp32": exported["fp32"], **({"int8": exported["int8"]} if exported["int8_kept"] else {})}
        for precision, path in paths.items():
            classifier = OnnxClassifier(path, threads=threads)
            faces = faces_of(classifier.image_size, classifier.channels)  # read once per input size
            for batch in (1, 32, 256):
                for tta in (None, "flip"):
                    rate = faces_per_second(classifier, faces, batch, tta)
                    row = {
                        "model": model,
                        "precision": precision,
                        "batch": batch,
                        "tta": tta,
                        "faces_per_s": round(rate, 1),
                        "ms_per_face": round(1000 / rate, 3),
                    }
                    print(row, flush=True)
                    rows.append(row)
    result = {
        "machine": {**machine(threads), "amx": amx_supported(), "onnxruntime": onnxruntime.__version__},
        "results": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
