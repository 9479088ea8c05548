"""Does a model's confusion, measured on one kind of faces, correct crowds of another kind (issue 28)?

    python benchmarks/confusion_transfer.py --model default --folds runs/default-photos-r8l/onnx \
        --out benchmarks/results/confusion_transfer.json

Corrected crowd shares (runtime.quantify) assume the crowd's faces are read the way the calibration faces
were. This measures how far that carries. Faces, each read once with the shipped temperature: the muxspace
photos out of fold (`--folds`), the same faces in the shift suite's 12 renderings (benchmarks/shift_suite.py:
grey, noise or crowd surroundings, 24 to 160 px), and the FER+ validation faces (48-px grey crops, read one by
one). Each set is split in two halves; 200 crowds of 100 faces of known shares (flat Dirichlet over the six
emotions with 80 photos or more) are drawn from one half and corrected with confusions measured on the other
half of: the photos as they are, the FER+ faces, both pooled half and half, the photos that are greyscale or
in colour only (a property a face could be sorted by at run time), and, as moodlens ships it, whichever of
the photos' and the FER+ faces' confusions the crowd's answers are more likely under (`chosen`: each kind's
answer density, runtime.quantify; `chosen_ferplus` says how often the FER+ faces' was chosen). Reported per
crowd set and confusion: mean absolute share error (points) and how often the 95 % intervals held the truth.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from crowd_mood import EMOTIONS, draw_crowd
from paths import SHARED
from shift_suite import read_all

from moodlens.evaluation.calibrate import held_out_answers
from moodlens.runtime.calibration import Calibration, FaceKind
from moodlens.runtime.hardware import cpu_field
from moodlens.runtime.imaging import read_image
from moodlens.runtime.quantify import Confusion, corrected_shares
from moodlens.runtime.weights import resolve_onnx

GREY_LEVEL = 2.0  # mean |channel - mean of channels| below which a photo counts as greyscale (0-255 scale)
CROWD = 100


def is_greyscale(path: Path) -> bool:
    image = read_image(path).astype(np.float32)
    return float(np.abs(image - image.mean(axis=2, keepdims=True)).mean()) < GREY_LEVEL


def pooled(a: Confusion, b: Confusion) -> Confusion:
    """Half of each: what a crowd of half photos, half FER+ faces would answer (support: the smaller)."""
    return Confusion(a.labels, (a.matrix + b.matrix) / 2, np.minimum(a.support, b.support), (a.spread + b.spread) / 2)


def crowd_errors(probs: np.ndarray, truth: np.ndarray, calibration: Calibration, crowds: int, seed: int) -> dict:
    """Mean absolute error (points) and interval coverage of corrected shares of crowds drawn from these faces,
    each corrected as the kind of faces of `calibration` its answers are most likely under."""
    labels, found = calibration.labels, ~np.isnan(probs[:, 0])
    probs, truth = probs[found], truth[found]
    pool = {labels.index(e): np.flatnonzero(truth == labels.index(e)) for e in EMOTIONS}
    rng, errors, held, lab = np.random.default_rng(seed), [], [], []
    for _ in range(crowds):
        crowd = draw_crowd(rng, pool, CROWD)
        true = np.bincount(truth[crowd], minlength=len(labels)) / CROWD
        kind = calibration.kind_of(calibration.log_evidence(probs[crowd]))
        share, low, high = corrected_shares(probs[crowd].mean(axis=0), CROWD, kind.confusion)
        errors.append(np.abs(share - true).mean())
        held.append(((low - 1e-9 <= true) & (true <= high + 1e-9)).mean())
        lab.append(kind.name == "ferplus_faces")
    scores = {"error_points": round(100 * float(np.mean(errors)), 2), "coverage": round(float(np.mean(held)), 3)}
    return scores | ({"chosen_ferplus": round(float(np.mean(lab)), 3)} if len(calibration.kinds) > 1 else {})


def halves(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n) % 2 == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="shipped model (its temperature is used)")
    parser.add_argument("--folds", type=Path, help="folder with fold0.onnx ... fold3.onnx: photos read out of fold")
    parser.add_argument("--crowds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    labels, calibration, names, truth, read = read_all(args.model, args.folds, args.seed, None)
    grey = np.array([is_greyscale(SHARED / "muxspace" / "images" / name) for name in names])
    lab = held_out_answers(resolve_onnx(args.model), SHARED / "ferplus" / "FER2013Valid")
    lab_probs = calibration.apply(lab.probs)
    photo_half, lab_half = halves(len(truth), args.seed), halves(len(lab.truth), args.seed + 1)
    as_is = read["as is"]
    results: dict[str, dict] = {}
    for side in (True, False):  # confusions from one half, crowds from the other, then the other way round
        mine, other = photo_half == side, photo_half != side
        confusions = {
            "photos": Confusion.measure(labels, as_is[other], truth[other]),
            "ferplus_faces": Confusion.measure(labels, lab_probs[lab_half != side], lab.truth[lab_half != side]),
            "greyscale_photos": Confusion.measure(labels, as_is[other & grey], truth[other & grey]),
            "colour_photos": Confusion.measure(labels, as_is[other & ~grey], truth[other & ~grey]),
        }
        confusions["photos_and_ferplus_pooled"] = pooled(confusions["photos"], confusions["ferplus_faces"])
        calibrations = {
            name: Calibration(calibration.temperature, [FaceKind(name, name, c)]) for name, c in confusions.items()
        }
        calibrations["chosen"] = Calibration(
            calibration.temperature, [calibrations["photos"].kinds[0], calibrations["ferplus_faces"].kinds[0]]
        )
        crowd_sets = {name: (probs[mine], truth[mine]) for name, probs in read.items()}
        crowd_sets["ferplus_faces"] = (lab_probs[lab_half == side], lab.truth[lab_half == side])
        for crowd_set, (probs, classes) in crowd_sets.items():
            for name, calibrated in calibrations.items():
                scores = crowd_errors(probs, classes, calibrated, args.crowds // 2, args.seed)
                results.setdefault(crowd_set, {}).setdefault(name, []).append(scores)
    table = {
        crowd_set: {
            name: {key: round(float(np.mean([h[key] for h in both])), 3) for key in both[0]}
            for name, both in by_confusion.items()
        }
        for crowd_set, by_confusion in results.items()
    }
    disgust = labels.index("disgust")
    result = {
        "model": args.model + (f", out of fold ({args.folds})" if args.folds else ""),
        "temperature": calibration.temperature,
        "photos": {
            "read": len(truth),
            "greyscale": int(grey.sum()),
            "colour": int((~grey).sum()),
            "disgust_greyscale": int((grey & (truth == disgust)).sum()),
            "disgust_colour": int((~grey & (truth == disgust)).sum()),
        },
        "ferplus_faces": len(lab.truth),
        "crowds": table,
        "machine": {"cpu": cpu_field("model name")},
        "command": "python benchmarks/confusion_transfer.py --model "
        + args.model
        + (f" --folds {args.folds}" if args.folds else "")
        + f" --out {args.out}",
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: {c: v["error_points"] for c, v in row.items()} for k, row in table.items()}, indent=1))


if __name__ == "__main__":
    main()
