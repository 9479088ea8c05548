"""The shift suite (issue 24): does a model read the face, or its framing? Every muxspace photo's face is
re-rendered in new surroundings and at other sizes, analysed through the normal path (detection, crop, the
ONNX model with flip and its calibration), and scored against the photo's label and against how the same
model read the photo as it is.

    python benchmarks/shift_suite.py --model ferplus --out benchmarks/results/shift_suite_ferplus.json
    python benchmarks/shift_suite.py --model default --folds runs/default-photos-r8l/onnx --out ...

Renderings: the face (its box from the photo as it is, with half a box of margin around) shrunk so that the
face is WIDTH px wide (160, 64, 32, 24) and set in the middle of a canvas three times that, on a plain grey
margin, on noise, or on a crowd photo (a WIDER image) as background. A model that trained on the photos
(`default`, `balanced`) reads each photo with the fold model that never saw it (`--folds`). Reported per
rendering: accuracy, the share of photos whose reading stays the same, recall per emotion, and how far the
shares of 200 crowds of 100 such photos move from the same crowds as photos (corrected shares, points).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from paths import SHARED, crowd_backdrops

from moodlens.data.labels import canonical_label
from moodlens.data.surroundings import MARGINS, WIDTHS, in_surroundings
from moodlens.runtime.calibration import Calibration
from moodlens.runtime.crowd import summarize
from moodlens.runtime.hardware import cpu_field
from moodlens.runtime.imaging import read_image
from moodlens.runtime.pipeline import Analyzer

FOLDS = Path.home() / ".cache" / "moodlens" / "muxspace-folds"  # recipes/muxspace_folds.py's default


def photo_owners(folds: Path | None) -> dict[str, int]:
    """Which fold model reads each photo (0 for all without --folds)."""
    if folds is None:
        with open(SHARED / "muxspace" / "legend.csv", newline="") as f:
            return {row["image"]: 0 for row in csv.DictReader(f)}
    owners = {}
    for fold in range(4):
        with open(FOLDS / f"fold{fold}" / "val" / "legend.csv", newline="") as f:
            owners.update({row["image"]: fold for row in csv.DictReader(f)})
    return owners


def central_face(analyzer: Analyzer, image: np.ndarray) -> np.ndarray | None:
    """The probabilities of the readable face nearest the middle, if any."""
    faces = [f for f in analyzer.analyze(image).faces if f.readable]
    if not faces:
        return None
    middle = np.array(image.shape[1::-1]) / 2
    face = min(faces, key=lambda f: np.linalg.norm(np.array(f.box[:2]) + np.array(f.box[2:]) / 2 - middle))
    return np.array([face.scores[label] for label in analyzer.labels])


def read_all(
    model: str, folds: Path | None, seed: int, limit: int | None, only_fold: int | None = None
) -> tuple[list[str], Calibration, list[str], np.ndarray, dict]:
    """(labels, calibration, the photos read (N), their true classes (N,), {rendering: probabilities (N, K),
    NaN where no face})."""
    owners = photo_owners(folds)
    sources = [str(folds / f"fold{k}.onnx") for k in range(4)] if folds else [model]
    if only_fold is not None:  # one fold's validation photos, read by that fold's model alone
        owners = {name: 0 for name, fold in owners.items() if fold == only_fold}
        sources = [sources[only_fold]]
    analyzers = [Analyzer(source, threads=2) for source in sources]
    labels, calibration = analyzers[0].labels, Analyzer(model, threads=1).calibration
    for analyzer in analyzers:  # the fold models read with the shipped model's temperature
        analyzer.classifier.calibration = calibration
    backdrops = [read_image(p) for p in crowd_backdrops(for_training=False)]
    with open(SHARED / "muxspace" / "legend.csv", newline="") as f:
        legend = [(row["image"], canonical_label(row["emotion"])) for row in csv.DictReader(f)]
    legend = [(name, label) for name, label in legend if label in labels and name in owners][:limit]
    rng, names, truth = np.random.default_rng(seed), [], []
    read: dict[str, list] = {"as is": []} | {f"{m} {w}px": [] for m in MARGINS for w in WIDTHS}
    nothing = np.full(len(labels), np.nan)
    for i, (name, label) in enumerate(legend):
        analyzer, photo = analyzers[owners[name]], read_image(SHARED / "muxspace" / "images" / name)
        faces = [f for f in analyzer.analyze(photo).faces if f.readable]
        if not faces:
            continue
        largest = max(faces, key=lambda f: f.box[2])
        names.append(name)
        truth.append(labels.index(label))
        read["as is"].append(np.array([largest.scores[k] for k in labels]))
        for margin in MARGINS:
            for width in WIDTHS:
                image = in_surroundings(photo, largest.box, width, margin, backdrops[i % len(backdrops)], rng)
                probs = central_face(analyzer, image)
                read[f"{margin} {width}px"].append(nothing if probs is None else probs)
    return labels, calibration, names, np.array(truth), {k: np.array(v) for k, v in read.items()}


def crowd_shift(labels, calibration, as_is, shifted, crowds: int, seed: int) -> float:
    """Mean absolute difference (points) between the corrected shares of crowds of 100 photos read as they
    are and the same photos rendered (photos without a face there are left out of both)."""
    rng, found = np.random.default_rng(seed), np.flatnonzero(~np.isnan(shifted[:, 0]))
    gaps = []
    for _ in range(crowds):
        crowd = rng.choice(found, 100)
        shares = []
        for probs in (as_is[crowd], shifted[crowd]):
            counts = dict(zip(labels, np.bincount(probs.argmax(1), minlength=len(labels)), strict=True))
            sums = dict(zip(labels, probs.sum(axis=0), strict=True))
            summary = summarize(labels, 100, 100, counts, sums, calibration)
            shares.append(np.array([summary.shares[label].share for label in labels]))
        gaps.append(np.abs(shares[0] - shares[1]).mean())
    return round(100 * float(np.mean(gaps)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="shipped model (its calibration is used)")
    parser.add_argument("--folds", type=Path, help="folder with fold0.onnx ... fold3.onnx: photos read out of fold")
    parser.add_argument("--crowds", type=int, default=200)
    parser.add_argument("--photos", type=int, help="the first N photos only (quick checks)")
    parser.add_argument("--fold", type=int, help="with --folds: only fold K's photos, read by DIR/foldK.onnx")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    labels, calibration, _, truth, read = read_all(args.model, args.folds, args.seed, args.photos, args.fold)
    as_is = read["as is"].argmax(1)
    result = {"model": args.model + (f", out of fold ({args.folds})" if args.folds else ""), "photos": len(truth)}
    for name, probs in read.items():
        found = ~np.isnan(probs[:, 0])
        guess = np.where(found, np.nan_to_num(probs).argmax(1), -1)
        recall = {
            label: round(float((guess[truth == k] == k).mean()), 3)
            for k, label in enumerate(labels)
            if (truth == k).sum() >= 50
        }
        result[name] = {
            "face_found": round(float(found.mean()), 3),
            "accuracy": round(float((guess == truth).mean()), 4),
            "same_reading_as_the_photo": round(float((guess == as_is).mean()), 4),
            "recall": recall,
            "crowd_share_shift_points": crowd_shift(labels, calibration, read["as is"], probs, args.crowds, args.seed),
        }
    result["machine"] = {"cpu": cpu_field("model name")}
    result["command"] = (
        f"python benchmarks/shift_suite.py --model {args.model}"
        + (f" --folds {args.folds}" if args.folds else "")
        + f" --out {args.out}"
    )
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: (v["accuracy"], v["crowd_share_shift_points"])
                for k, v in result.items()
                if isinstance(v, dict) and "accuracy" in v
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
