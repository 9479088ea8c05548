"""Which kind of faces real crowd photos are corrected as (issue 28), with and without the prior odds.

    python benchmarks/crowd_kinds.py --out benchmarks/results/crowd_kinds.json

The 92 WIDER crowd photos (../shared/data/crowds/wider416: real scenes, small faces, no emotion labels) are
analysed with the shipped model and calibration as `moodlens analyze` would. For each photo with a readable
face: its readable faces, and by how much their answers are likelier under the FER+ faces' kind than under
the photos' (summed log-evidence, nats). Reported by crowd size: how many photos would be corrected as FER+
faces at even odds and at the shipped odds (runtime.calibration.SWITCH_ODDS). These are photos, so every
crowd taken for lab faces is a mistake.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from paths import SHARED

from moodlens.runtime.calibration import SWITCH_ODDS
from moodlens.runtime.crowd import CrowdTally
from moodlens.runtime.hardware import cpu_field
from moodlens.runtime.imaging import read_image
from moodlens.runtime.pipeline import Analyzer

SIZES = ((1, 2), (3, 9), (10, 29), (30, 10_000))  # readable faces, both ends included


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    analyzer = Analyzer(args.model, threads=2)
    first, other = (kind.name for kind in analyzer.calibration.kinds[:2])
    readable, lead = [], []
    for path in sorted((SHARED / "crowds" / "wider416" / "images").iterdir()):
        tally = CrowdTally(analyzer.labels, analyzer.calibration)
        tally.add(analyzer.analyze(read_image(path)).faces)
        if tally.readable:
            readable.append(tally.readable)
            lead.append(tally.evidence[other] - tally.evidence[first])
    readable, lead = np.array(readable), np.array(lead)
    by_size = {}
    for low, high in SIZES:
        members = (readable >= low) & (readable <= high)
        by_size[f"{low}-{high} faces"] = {
            "photos": int(members.sum()),
            f"as {other} at even odds": int((lead[members] > 0).sum()),
            f"as {other} at the shipped odds": int((lead[members] > np.log(SWITCH_ODDS)).sum()),
            "median lead per face (nats)": round(float(np.median(lead[members] / readable[members])), 3)
            if members.any()
            else None,
        }
    result = {
        "model": args.model,
        "kinds": [first, other],
        "switch_odds": SWITCH_ODDS,
        "photos_with_readable_faces": len(readable),
        "largest_lead_nats": round(float(lead.max()), 2),
        "by_readable_faces": by_size,
        "machine": {"cpu": cpu_field("model name")},
        "command": f"python benchmarks/crowd_kinds.py --model {args.model} --out {args.out}",
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
