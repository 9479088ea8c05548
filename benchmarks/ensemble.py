"""How much an ensemble of trained models gains over its members: the ceiling for distilling them.

    python benchmarks/ensemble.py default runs/a runs/b --data ../shared/data/fer2013/val --tta flip

Scores each model (a shipped name, run directory or .pt file) alone and the mean of their
probabilities, and how often each pair agrees. Writes benchmarks/results/ensemble.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from moodlens.data.faces import load_dataset
from moodlens.runtime.metrics import classification_metrics, confusion_matrix
from moodlens.training.checkpoints import load_matching_model, load_model
from moodlens.training.data import class_index
from moodlens.training.inference import predict_probs


def scores(probs: np.ndarray, y: np.ndarray, labels: list[str]) -> dict:
    metrics = classification_metrics(confusion_matrix(y, probs.argmax(1), len(labels)), labels)
    return {k: metrics[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="shipped model names, run directories or .pt files")
    parser.add_argument("--data", required=True, help="labelled validation data")
    parser.add_argument("--tta", choices=("flip",))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ensemble.json"))
    args = parser.parse_args()
    _, cfg, labels, _ = load_model(args.models[0])
    try:
        members = [load_matching_model(m, labels, cfg.image_size, cfg.in_channels, "member")[0] for m in args.models]
    except ValueError as error:
        raise SystemExit(f"ensemble members must share their classes and input: {error}") from error
    data = load_dataset(args.data, cfg.image_size, cfg.in_channels)
    y = class_index(data, labels)
    probs = [predict_probs(model, data.images, precision="fp32", tta=args.tta) for model in members]
    agreement = {
        f"{a} | {b}": float((probs[i].argmax(1) == probs[j].argmax(1)).mean())
        for (i, a), (j, b) in itertools.combinations(enumerate(args.models), 2)
    }
    result = {
        "data": args.data,
        "faces": len(y),
        "tta": args.tta,
        "members": {name: scores(p, y, labels) for name, p in zip(args.models, probs, strict=True)},
        "ensemble_mean": scores(np.mean(probs, axis=0), y, labels),
        "pairwise_agreement": agreement,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
