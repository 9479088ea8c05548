"""The validation suite every candidate model is chosen on (issue 14), in one command.

    python benchmarks/suite.py default ferplus runs/default-photos/all --cv runs/default-photos

Each model (shipped name, run directory or .pt) is scored with flip TTA, as users get it, on
- `ferplus`: FER+ FER2013Valid, the annotators' majority label;
- `fer2013`: FER-2013 PublicTest with FER-2013's labels (an 8-class model may answer contempt: wrong);
- `muxspace`: the shared muxspace photos through CenterFace, the largest face, as `analyze` cuts it;
  skipped for a model whose run trained on muxspace photos, which `--cv` scores instead.
`--cv DIR` takes the runs DIR/fold0.. of recipes/default_photos.sh, scores each on the validation
photos of its fold (which it never saw) and pools the folds into one muxspace score. Reports accuracy
on the faces found, accuracy counting photos without a face as wrong, macro F1, per-class recall, and how
calibrated the checkpoint's raw scores are (ECE, NLL; NLL against the votes on FER+); the shipped ONNX models'
calibrated scores are reported by recipes/calibrate_shipped.py (benchmarks/results/calibration_<name>.json).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from moodlens.evaluation.evaluate import evaluate
from moodlens.runtime.metrics import classification_metrics
from moodlens.runtime.weights import resolve_checkpoint
from moodlens.training.checkpoints import read_checkpoint

SETS = {"ferplus": "ferplus/FER2013Valid", "fer2013": "fer2013/val", "muxspace": "muxspace"}
DETECTED = {"muxspace"}
FOLDS = Path.home() / ".cache" / "moodlens" / "muxspace-folds"


def summary(metrics: dict) -> dict:
    row = {k: round(metrics[k], 4) for k in ("accuracy", "balanced_accuracy", "macro_f1")}
    row.update({k: round(metrics[k], 4) for k in ("ece", "nll", "nll_votes") if k in metrics})
    row["samples"] = metrics["samples"]
    row["recall"] = {name: round(c["recall"], 3) for name, c in metrics["per_class"].items() if c["support"]}
    if "no_face" in metrics:
        row.update(no_face=metrics["no_face"], accuracy_with_misses=round(metrics["accuracy_with_misses"], 4))
    return row


def trained_on_photos(model: str) -> bool:
    return bool(read_checkpoint(resolve_checkpoint(model)).get("train_config", {}).get("photos"))


def score(model: str, data: Path, detect: bool, scratch: str) -> dict:
    return evaluate(str(data), model, scratch, tta="flip", precision="fp32", detect="centerface" if detect else None)


def cross_validated(cv_dir: Path, folds_dir: Path, scratch: str) -> dict:
    """One muxspace score from every fold's model on its own validation photos, confusions summed."""
    runs = sorted(cv_dir.glob("fold[0-9]*"))
    if not runs:
        raise SystemExit(f"{cv_dir}: no fold runs (fold0, fold1, ...)")
    folds = [score(str(run), folds_dir / run.name / "val", True, scratch) for run in runs]
    pooled = classification_metrics(np.sum([m["confusion_matrix"] for m in folds], axis=0), folds[0]["labels"])
    missed = sum(m["no_face"] for m in folds)
    pooled.update(
        no_face=missed, accuracy_with_misses=pooled["accuracy"] * pooled["samples"] / (pooled["samples"] + missed)
    )
    return {
        "runs": [str(run) for run in runs],
        "muxspace_folds": summary(pooled),
        "per_fold": [summary(m) for m in folds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="shipped names, run directories or .pt files")
    parser.add_argument("--cv", type=Path, help="folder of fold runs (recipes/default_photos.sh)")
    parser.add_argument("--folds", type=Path, default=FOLDS, help="recipes/muxspace_folds.py output")
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/suite.json"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp()
    results = {}
    for model in args.models:
        skip = {"muxspace"} if trained_on_photos(model) else set()
        results[model] = {
            name: summary(score(model, args.shared / path, name in DETECTED, scratch))
            for name, path in SETS.items()
            if name not in skip
        }
        print(model, {name: row["accuracy"] for name, row in results[model].items()}, flush=True)
    if args.cv:
        results[f"{args.cv}/fold*"] = cross_validated(args.cv, args.folds, scratch)
        print(args.cv, results[f"{args.cv}/fold*"]["muxspace_folds"], flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
