"""Calibrate a shipped model (issue 28): its temperature and the confusion its crowds' shares are corrected
with, measured on muxspace photos it never trained on, written beside the model in the package.

    python recipes/calibrate_shipped.py ferplus            # never saw a muxspace photo: all of them
    python recipes/calibrate_shipped.py default --folds runs/default-photos-r8l/onnx

A model trained on the photos (`default`, `balanced`) is read out of fold: each photo by the fold model of
recipes/default_photos.sh that never saw it (the folds exported with `moodlens export runs/.../foldN --out
DIR/foldN.onnx --no-int8`), as the model on all photos would read a photo it never saw. The temperature is
fitted on those photos and FER+ validation faces (read by the shipped model) together; each of the two is a
kind of faces with its own confusion (a crowd is corrected as the kind its answers are most like). The
report, with ECE and NLL before and after on both, goes to benchmarks/results/calibration_<name>.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from paths import SHARED  # noqa: E402

from moodlens.evaluation.calibrate import fit, held_out_answers  # noqa: E402
from moodlens.runtime.calibration import calibration_path  # noqa: E402
from moodlens.runtime.hardware import cpu_field  # noqa: E402
from moodlens.runtime.weights import WEIGHTS_DIR  # noqa: E402

FOLDS = Path.home() / ".cache" / "moodlens" / "muxspace-folds"  # recipes/muxspace_folds.py's default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a shipped model's name")
    parser.add_argument("--folds", type=Path, help="folder with fold0.onnx ... fold3.onnx: photos read out of fold")
    args = parser.parse_args()
    model = WEIGHTS_DIR / f"{args.model}.onnx"
    if args.folds:
        parts = [
            held_out_answers(args.folds / f"fold{k}.onnx", FOLDS / f"fold{k}" / "val", "centerface") for k in range(4)
        ]
        photos, where = functools.reduce(operator.add, parts), f"muxspace photos out of fold ({args.folds})"
    else:
        photos, where = held_out_answers(model, SHARED / "muxspace", "centerface"), "muxspace photos"
    lab = held_out_answers(model, SHARED / "ferplus" / "FER2013Valid")
    calibration, scores = fit(photos, {"ferplus_valid": lab}, measured_on=f"{len(photos.truth)} {where}")
    calibration.save(calibration_path(model))
    command = f"python recipes/calibrate_shipped.py {args.model}" + (f" --folds {args.folds}" if args.folds else "")
    report = {
        "model": args.model,
        "temperature": calibration.temperature,
        "kinds_measured_on": {kind.name: kind.measured_on for kind in calibration.kinds},
        "photo_accuracy": round(float((photos.probs.argmax(1) == photos.truth).mean()), 4),
        "scores": scores,
        "machine": {"cpu": cpu_field("model name")},
        "command": command,
    }
    out = ROOT / "benchmarks" / "results" / f"calibration_{args.model}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
