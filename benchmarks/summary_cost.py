"""What a photo or a video frame costs to analyse and summarise, as `moodlens analyze` does for each: the
Analyzer's work plus the crowd summary (issue 28: the corrected shares must not make analysis slower).

    python benchmarks/summary_cost.py --out benchmarks/results/summary_cost.json
    PYTHONPATH=/path/to/older/checkout/src python benchmarks/summary_cost.py --out before.json   # the same, before

Times (median of --repeats, after one warm-up) the 26-face `bald_guys.jpg` as a photo and the group selfie
resized to 640x480 as a video frame, each analysed and summarised, and the summary alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
from paths import SHARED
from timing import median_ms

import moodlens
from moodlens import Analyzer
from moodlens.runtime.hardware import cpu_field, cpu_flags
from moodlens.runtime.imaging import read_image

try:  # since issue 28
    from moodlens.runtime.crowd import crowd_summary

    def summarize(analyzer: Analyzer, result) -> object:
        return crowd_summary(result.faces, analyzer.labels, analyzer.calibration)

except ImportError:  # the code before it: counted shares

    def summarize(analyzer: Analyzer, result) -> object:
        return result.summary(analyzer.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    analyzer = Analyzer(threads=args.threads)
    crowd = read_image(SHARED / "faces" / "dlib" / "bald_guys.jpg")
    frame = cv2.resize(read_image(SHARED / "faces" / "deepface" / "selfie-many-people.jpg"), (640, 480))
    result = {"moodlens": str(Path(moodlens.__file__).parent), "threads": args.threads}
    for name, image, still in (("photo bald_guys.jpg", crowd, True), ("640x480 frame", frame, False)):
        found = analyzer.analyze_images([image], [None], still=still)[0]
        result[name] = {
            "faces": len(found.faces),
            "analyze_and_summary_ms": median_ms(
                lambda image=image, still=still: summarize(
                    analyzer, analyzer.analyze_images([image], [None], still=still)[0]
                ),
                args.repeats,
            ),
            "summary_ms": median_ms(lambda found=found: summarize(analyzer, found), 10 * args.repeats),
        }
    result["machine"] = {"cpu": cpu_field("model name"), "avx512f": "avx512f" in cpu_flags()}
    result["command"] = (
        f"python benchmarks/summary_cost.py --repeats {args.repeats} --threads {args.threads} --out {args.out}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
