"""Where `Analyzer.analyze` spends its time, stage by stage, on each workload of benchmarks/analyze_speed.py
and a 12-megapixel crowd (issue 26: profile first).

    python benchmarks/analysis_profile.py --threads 2 --out benchmarks/results/analysis_profile.json

Stages, each timed on its own with the analyser's own objects (median of --repeats): decoding the file;
the detector's first pass (resize and network at up to 320 px); the crowd pass where `auto` runs it, tile
by tile at each scale; merging (NMS); cropping and aligning the faces; classifying them with flip (one ONNX
Runtime call); the crowd summary. Their sum is checked against `analyze` as a whole. The CPU's flags are
recorded: on a CPU without AVX-512 the network stages grow the most (issue 26 measured the crowd pass at
760 of 914 ms on an AVX2-only Zen 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
from crowd_detection import wider_mosaic
from paths import SHARED
from timing import command, machine, median_ms

from moodlens import Analyzer
from moodlens.runtime.crops import crop_faces
from moodlens.runtime.crowd import crowd_summary
from moodlens.runtime.imaging import read_image


def profile(analyzer: Analyzer, image: np.ndarray, path: str | None, still: bool, repeats: int) -> dict:
    detector = analyzer.detector
    height, width = image.shape[:2]
    net_h, net_w = detector.network_size(height, width)
    sx = net_w / width
    floor = min(detector.threshold, detector.CROWD_HINT)
    first = detector.pass_at(image, net_w, net_h, floor)
    crowd = detector.wants_crowd_pass(first, sx, max(width, height), still)
    passes = [first[first[:, 4] > detector.threshold]] + (detector.crowd_passes(image, first) if crowd else [])
    found = detector.merged(passes, width, height)
    eyes = analyzer.eyes(found)
    size, channels = analyzer.classifier.image_size, analyzer.classifier.channels
    crops = crop_faces(image, [d.box for d in found], size, channels, analyzer.margin, eyes)
    result = analyzer.analyze_images([image], [path], still=still)[0]
    stages = {
        "decode": median_ms(lambda: read_image(path), repeats) if path else 0.0,
        "first_pass": median_ms(lambda: detector.pass_at(image, net_w, net_h, floor), repeats),
        "crowd_pass": median_ms(lambda: detector.crowd_passes(image, first), repeats) if crowd else 0.0,
        "merge": median_ms(lambda: detector.merged(passes, width, height), repeats),
        "crop_align": median_ms(
            lambda: crop_faces(image, [d.box for d in found], size, channels, analyzer.margin, eyes), repeats
        ),
        "classify_flip": median_ms(lambda: analyzer.classifier.predict(crops, tta=analyzer.tta), repeats),
        "summary": median_ms(lambda: crowd_summary(result.faces, analyzer.labels, analyzer.calibration), repeats),
    }
    whole = median_ms(lambda: analyzer.analyze_images([image], [path], still=still), repeats)
    return {
        "size": f"{width}x{height}",
        "faces": len(found),
        "crowd_pass": crowd,
        "crowd_pass_starts_at": detector.coarse_scale(first, max(width, height)) if crowd else None,
        "stages_ms": stages,
        "analyze_ms": whole,
        "stages_share_of_analyze": round((sum(stages.values()) - stages["decode"] - stages["summary"]) / whole, 2),
    }


MOSAIC = "12 MP crowd mosaic"


def workloads(mosaic: bool = True) -> dict[str, tuple[np.ndarray, str | None, bool]]:
    """benchmarks/analyze_speed.py's photos and video frame (and the 12-MP crowd): name -> (RGB image, file it
    was read from or None, whether it is a still photo)."""
    photos = {
        "1 face (grace_hopper.jpg)": str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
        "7 faces (selfie-many-people.jpg)": str(SHARED / "faces/deepface/selfie-many-people.jpg"),
        "about 30 faces (bald_guys.jpg)": str(SHARED / "faces/dlib/bald_guys.jpg"),
    }
    found = {name: (read_image(path), path, True) for name, path in photos.items()}
    frame = cv2.resize(found["7 faces (selfie-many-people.jpg)"][0][:, :480], (640, 480))
    found["640x480 video frame"] = (frame, None, False)
    if mosaic:
        found[MOSAIC] = (wider_mosaic()[0], None, True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    analyzer = Analyzer(threads=args.threads)
    result = {}
    for name, (image, path, still) in workloads().items():
        repeats = max(1, args.repeats // 3) if name == MOSAIC else args.repeats
        result[name] = profile(analyzer, image, path, still, repeats)
    result["machine"] = machine(args.threads)
    result["command"] = command(
        f"benchmarks/analysis_profile.py --threads {args.threads} --repeats {args.repeats} --out {args.out}"
    )
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
