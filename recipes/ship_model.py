"""Ship a trained run as a named model inside the package: its best weights, labels and recipe.

    python recipes/ship_model.py runs/default-vgg32 default

writes src/moodlens/weights/default.pt (no optimizer state), which `--model default` then loads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from moodlens.checkpoints import WEIGHTS_DIR, save_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="run directory holding best.pt and config.json")
    parser.add_argument("name", help="name users load it by, e.g. default or ferplus")
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


if __name__ == "__main__":
    main()
