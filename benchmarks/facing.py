"""How the 'facing the camera' rule behaves on real photos: the nose's offset from the middle of the eyes.

No shared data set labels head pose, so this is a sanity check, not an accuracy: on portraits (the
muxspace photos, nearly all taken face on) almost every face should count as facing; in crowd photos
(WIDER, people looking every way) fewer; and a mirrored photo should get the same answer for each face,
since turning left and turning right are judged alike.

    python benchmarks/facing.py --out benchmarks/results/facing.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
from paths import SHARED

from moodlens.runtime.detection import FACING_OFFSET, load_detector
from moodlens.runtime.imaging import read_image

SETS = {
    "muxspace portraits": sorted((SHARED / "muxspace" / "images").iterdir()),
    "wider crowds": sorted((SHARED / "crowds" / "wider416" / "images").glob("*.jpg")),
}


def measure(paths: list[Path], detector, min_width: int) -> dict:
    offsets, agree, pairs = [], 0, 0
    for path in paths:
        image = read_image(path)
        found = [d for d in detector.detect(image) if d.box[2] >= min_width]
        mirrored = detector.detect(np.ascontiguousarray(image[:, ::-1]))
        for d in found:
            offsets.append(d.nose_offset())
            x, y, w, h = d.box
            twin = [
                m
                for m in mirrored
                if abs((image.shape[1] - m.box[0] - m.box[2]) - x) < w / 4 and abs(m.box[1] - y) < h / 4
            ]
            if twin:
                pairs += 1
                agree += twin[0].facing() == d.facing()
    values = np.abs(offsets)
    return {
        "photos": len(paths),
        "faces": len(offsets),
        "facing_share": round(float((values <= FACING_OFFSET).mean()), 4) if len(values) else None,
        "abs_offset_percentiles": {p: round(float(np.percentile(values, p)), 3) for p in (25, 50, 75, 90, 95)},
        "mirror_agreement": round(agree / pairs, 4) if pairs else None,
        "mirror_pairs": pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-width", type=int, default=20, help="faces at least this wide (the readable ones)")
    parser.add_argument("--out", default="benchmarks/results/facing.json")
    args = parser.parse_args()
    detector = load_detector("centerface", threads=1)
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "rule": f"|nose offset from the middle of the eyes, along the eye line| <= {FACING_OFFSET} eye distances",
        "min_width": args.min_width,
        "sets": {name: measure(paths, detector, args.min_width) for name, paths in SETS.items()},
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
