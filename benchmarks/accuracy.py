"""Accuracy of the shipped models on the validation splits in ../shared, as users get it.

    python benchmarks/accuracy.py [--shared ../shared/data]

For each shipped model and its validation split: PyTorch fp32, fresh ONNX fp32 / int8 exports, and
the shipped ONNX file that `moodlens analyze` and `serve` run (weights/NAME.onnx), each plain and
with flip test-time augmentation. Writes benchmarks/results/accuracy.json (or --out) and one evaluation report
per model (confusion matrices, per-class scores, training curves) of the shipped ONNX path, as users
get it (with flip), under benchmarks/results/<model>/onnx_shipped_flip/.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from moodlens.evaluation.evaluate import evaluate
from moodlens.evaluation.export import export
from moodlens.runtime.weights import WEIGHTS_DIR

SPLITS = {
    "default": "ferplus/FER2013Valid",
    "balanced": "ferplus/FER2013Valid",
    "ferplus": "ferplus/FER2013Valid",
    "fer2013": "fer2013/val",
}
CALIBRATION = "ferplus/FER2013Train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"), help="where the reports go")
    parser.add_argument("--out", type=Path, help="the JSON (default: RESULTS/accuracy.json)")
    args = parser.parse_args()
    summary = {}
    scratch = tempfile.mkdtemp()
    for name, split in SPLITS.items():
        if not (WEIGHTS_DIR / f"{name}.pt").exists():
            continue
        data = str(args.shared / split)
        onnx_path = Path(scratch) / f"{name}.onnx"
        exported = export(name, str(onnx_path), data, str(args.shared / CALIBRATION))
        rows = {}
        variants = {"torch_fp32": name, "onnx_fp32": str(onnx_path)}
        if exported["int8_kept"]:
            variants["onnx_int8"] = exported["int8"]
        variants["onnx_shipped"] = str(WEIGHTS_DIR / f"{name}.onnx")
        for variant, model in variants.items():
            for tta in (None, "flip"):
                label = f"{variant}{'_flip' if tta else ''}"
                # keep the report of the path users get; the rest are numbers only
                out = args.results / name / label if label == "onnx_shipped_flip" else Path(scratch) / name / label
                metrics = evaluate(data, model, str(out), tta=tta, precision="fp32")
                rows[label] = {
                    k: metrics[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "samples", "left_out")
                }
                print(name, variant, tta, f"{metrics['accuracy']:.4f}", flush=True)
        summary[name] = {"split": split, "export": exported, "results": rows}
    (args.out or args.results / "accuracy.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
