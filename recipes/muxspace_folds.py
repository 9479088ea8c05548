"""Split the muxspace photos into K folds for training on photos and validating on photos no run saw.

Photos of one person (LFW-style names such as Abel_Pacheco_0002.jpg) stay in one fold, so that a
fold's validation photos never show a face its training photos showed; the folds are balanced by
emotion. Each fold gets a `train/` and a `val/` folder with a legend.csv and an `images` link into
../shared, which every moodlens command reads as a muxspace set:

    python recipes/muxspace_folds.py --out ~/.cache/moodlens/muxspace-folds
    moodlens train ... --photos ~/.cache/moodlens/muxspace-folds/fold0/train

Nothing is copied; folds.json records which photo went where.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

PERSON = re.compile(r"^(.+)_\d{4}\.\w+$")  # LFW names: Firstname_Lastname_0001.jpg


def person_of(image: str) -> str:
    match = PERSON.match(image)
    return match.group(1) if match else image


def assign_folds(rows: list[dict], folds: int, seed: int) -> dict[str, int]:
    """Fold per person: each group, rarest emotion first, goes to the fold with fewest photos of it."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[person_of(row["image"])].append(row)
    emotion_total = Counter(row["emotion"] for row in rows)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda person: (emotion_total[groups[person][0]["emotion"]], -len(groups[person])))
    per_fold = [Counter() for _ in range(folds)]
    fold_of: dict[str, int] = {}
    for person in order:
        emotion = groups[person][0]["emotion"]
        fold = min(range(folds), key=lambda k: (per_fold[k][emotion], sum(per_fold[k].values())))
        for row in groups[person]:
            per_fold[fold][row["emotion"]] += 1
            fold_of[row["image"]] = fold
    return fold_of


def write_legend(folder: Path, rows: list[dict], images: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "legend.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["user.id", "image", "emotion"])
        writer.writeheader()
        writer.writerows(rows)
    link = folder / "images"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(images.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/muxspace", help="folder with legend.csv and images/")
    parser.add_argument("--out", required=True)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    with open(data / "legend.csv", newline="") as f:
        rows = [{"user.id": r["user.id"], "image": r["image"], "emotion": r["emotion"]} for r in csv.DictReader(f)]
    fold_of = assign_folds(rows, args.folds, args.seed)
    counts = {}
    for fold in range(args.folds):
        val = [row for row in rows if fold_of[row["image"]] == fold]
        train = [row for row in rows if fold_of[row["image"]] != fold]
        write_legend(out / f"fold{fold}" / "train", train, data / "images")
        write_legend(out / f"fold{fold}" / "val", val, data / "images")
        counts[f"fold{fold}"] = dict(sorted(Counter(row["emotion"] for row in val).items()))
        print(f"fold{fold}: {len(train)} training photos, {len(val)} validation photos {counts[f'fold{fold}']}")
    (out / "folds.json").write_text(
        json.dumps({"folds": args.folds, "seed": args.seed, "val_counts": counts, "fold_of": fold_of}, indent=1)
    )


if __name__ == "__main__":
    main()
