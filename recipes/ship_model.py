"""Ship a trained run as a named model inside the package: its best weights, labels and recipe.

    python recipes/ship_model.py runs/default-vgg32 default --data ../shared/data/fer2013/val

writes src/moodlens/weights/default.pt (no optimizer state), which `--model default` then loads, and
default.onnx for the PyTorch-free analysis: the int8 model when it stays within 0.5 points of fp32 on
--data (calibrated on --calibration, default --data), else fp32.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch

from moodlens.evaluation.export import export
from moodlens.runtime.weights import WEIGHTS_DIR
from moodlens.training.checkpoints import save_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="run directory holding best.pt and config.json")
    parser.add_argument("name", help="name users load it by, e.g. default or ferplus")
    parser.add_argument("--data", required=True, help="labelled faces to check the ONNX export on")
    parser.add_argument("--calibration", help="faces to calibrate int8 on (default: --data)")
    args = parser.parse_args()
    best = torch.load(args.run / "best.pt", map_location="cpu", weights_only=True)
    shipped = {
        "model_config": best["model_config"],
        "labels": best["labels"],
        "model": {name: tensor.float() for name, tensor in best["model"].items()},
        "epoch": best["epoch"],
        "metrics": best["metrics"],
        "train_config": json.loads((args.run / "config.json").read_text()),
    }
    WEIGHTS_DIR.mkdir(exist_ok=True)
    target = WEIGHTS_DIR / f"{args.name}.pt"
    save_atomic(shipped, target)
    print(f"{target}: epoch {best['epoch']}, {target.stat().st_size / 1e6:.1f} MB")
    ship_onnx(args.name, args.data, args.calibration)
    (WEIGHTS_DIR / f"{args.name}.calibration.json").unlink(missing_ok=True)  # measured on the model replaced
    print(f"now calibrate it: python recipes/calibrate_shipped.py {args.name} [--folds DIR]")


def ship_onnx(name: str, data: str, calibration: str | None) -> dict:
    """Export the shipped weights/NAME.pt to weights/NAME.onnx: int8 where it keeps its accuracy, else fp32."""
    with tempfile.TemporaryDirectory() as tmp:
        result = export(str(WEIGHTS_DIR / f"{name}.pt"), str(Path(tmp) / "model.onnx"), data, calibration)
        shutil.copyfile(result["int8"] or result["fp32"], WEIGHTS_DIR / f"{name}.onnx")
    print(f"{WEIGHTS_DIR / name}.onnx: {'int8' if result['int8'] else 'fp32'}, {json.dumps(result)}")
    return result


if __name__ == "__main__":
    main()
