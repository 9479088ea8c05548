"""Photos of a labelled set rendered in other surroundings, as a second photo set for `moodlens train
--photos` (issue 24: a model that reads the face, not the portrait's framing).

    python recipes/surroundings.py ~/.cache/moodlens/muxspace-folds/fold0/train --out ~/.cache/moodlens/surround-fold0

Each photo's largest face (CenterFace, as analysis finds it) is set --copies times at a random width (the
shift suite's smallest to largest, 24 to 160 px) on a random kind of surroundings (--margins: by default grey,
noise or a WIDER crowd photo the shift suite does not use, as session 14 trained `default`; `--margins
flat,blur,crowd` uses only kinds the shift suite never reads): JPEGs and a legend.csv with the photo's label,
written last. Nothing of ../shared is copied into the repository; the output goes wherever --out says.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from paths import crowd_backdrops  # noqa: E402

from moodlens.data.surroundings import EVERY_MARGIN, MARGINS, WIDTHS, in_surroundings  # noqa: E402
from moodlens.runtime.detection import load_detector  # noqa: E402
from moodlens.runtime.files import write_atomic  # noqa: E402
from moodlens.runtime.imaging import read_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, help="a legend.csv set (legend.csv and images/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--margins", default=",".join(MARGINS), help="kinds of surroundings, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    margins = args.margins.split(",")
    if unknown := set(margins) - set(EVERY_MARGIN):
        parser.error(f"--margins: {sorted(unknown)} unknown; kinds: {','.join(EVERY_MARGIN)}")
    detector, rng = load_detector("centerface", threads=2), np.random.default_rng(args.seed)
    backdrops = [read_image(p) for p in crowd_backdrops(for_training=True)]  # never the shift suite's
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    with open(args.photos / "legend.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    written = []
    for row in rows:
        photo = read_image(args.photos / "images" / row["image"])
        faces = detector.detect(photo)
        if not faces:
            continue
        box = max(faces, key=lambda d: d.box[2]).box
        for copy in range(args.copies):
            width = int(rng.integers(min(WIDTHS), max(WIDTHS) + 1))
            margin = margins[int(rng.integers(len(margins)))]
            image = in_surroundings(photo, box, width, margin, backdrops[int(rng.integers(len(backdrops)))], rng)
            name = f"{Path(row['image']).stem}-{copy}.jpg"
            cv2.imwrite(str(args.out / "images" / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            written.append({**row, "image": name})
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(written)
    write_atomic(args.out / "legend.csv", table.getvalue())  # last, whole: its presence says the set is complete
    print(f"{len(written)} renderings of {len(rows)} photos in {args.out}")


if __name__ == "__main__":
    main()
