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
from paths import SHARED
from timing import median_ms

from moodlens import Analyzer
from moodlens.runtime.crops import crop_faces
from moodlens.runtime.crowd import crowd_summary
from moodlens.runtime.detection import tile_starts
from moodlens.runtime.hardware import cpu_field, cpu_flags
from moodlens.runtime.imaging import read_image


def mosaic_12mp() -> np.ndarray:
    """4000 x 3000 of the shared WIDER crowd photos side by side (as issue 26 measured)."""
    photos = sorted((SHARED / "crowds" / "wider416" / "images").iterdir())
    tiles = [cv2.resize(read_image(p), (400, 400)) for p in photos[:70]]
    rows = [np.hstack(tiles[r * 10 : r * 10 + 10]) for r in range(7)]
    return cv2.resize(np.vstack(rows), (4000, 3000))


def profile(analyzer: Analyzer, image: np.ndarray, path: str | None, still: bool, repeats: int) -> dict:
    detector = analyzer.detector
    height, width = image.shape[:2]
    net_h, net_w = detector.network_size(height, width)
    sx, sy = net_w / width, net_h / height
    floor = min(detector.threshold, detector.CROWD_HINT)
    first = detector.pass_at(image, sx, sy, floor)
    crowd = detector.wants_crowd_pass(first, sx, max(width, height), still)
    scales = ((1, 2) if max(width, height) <= 1024 else (1,)) if crowd else ()
    passes = [first[first[:, 4] > detector.threshold]] + [detector.tiled_pass(image, s) for s in scales]
    found = detector.merged(passes, width, height)
    eyes = analyzer.eyes(found)
    size, channels = analyzer.classifier.image_size, analyzer.classifier.channels
    crops = crop_faces(image, [d.box for d in found], size, channels, analyzer.margin, eyes)
    result = analyzer.analyze_images([image], [path], still=still)[0]
    stages = {
        "decode": median_ms(lambda: read_image(path), repeats) if path else 0.0,
        "first_pass": median_ms(lambda: detector.pass_at(image, sx, sy, floor), repeats),
        **{f"crowd_pass_x{s}": median_ms(lambda s=s: detector.tiled_pass(image, s), repeats) for s in scales},
        "merge": median_ms(lambda: detector.merged(passes, width, height), repeats),
        "crop_align": median_ms(
            lambda: crop_faces(image, [d.box for d in found], size, channels, analyzer.margin, eyes), repeats
        ),
        "classify_flip": median_ms(lambda: analyzer.classifier.predict(crops, tta=analyzer.tta), repeats),
        "summary": median_ms(lambda: crowd_summary(result.faces, analyzer.labels, analyzer.calibration), repeats),
    }
    whole = median_ms(lambda: analyzer.analyze_images([image], [path], still=still), repeats)
    tile = (detector.TILE, detector.TILE_OVERLAP)
    tiles = {f"x{s}": len(tile_starts(height * s, *tile)) * len(tile_starts(width * s, *tile)) for s in scales}
    return {
        "size": f"{width}x{height}",
        "faces": len(found),
        "crowd_pass": crowd,
        "crowd_pass_tiles": tiles,
        "stages_ms": stages,
        "analyze_ms": whole,
        "stages_share_of_analyze": round((sum(stages.values()) - stages["decode"] - stages["summary"]) / whole, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    analyzer = Analyzer(threads=args.threads)
    photos = {
        "1 face (grace_hopper.jpg)": str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
        "7 faces (selfie-many-people.jpg)": str(SHARED / "faces/deepface/selfie-many-people.jpg"),
        "about 30 faces (bald_guys.jpg)": str(SHARED / "faces/dlib/bald_guys.jpg"),
    }
    result = {name: profile(analyzer, read_image(path), path, True, args.repeats) for name, path in photos.items()}
    frame = cv2.resize(read_image(photos["7 faces (selfie-many-people.jpg)"])[:, :480], (640, 480))
    result["640x480 video frame"] = profile(analyzer, frame, None, False, args.repeats)
    result["12 MP crowd mosaic"] = profile(analyzer, mosaic_12mp(), None, True, max(1, args.repeats // 3))
    flags = cpu_flags()
    result["machine"] = {
        "cpu": cpu_field("model name"),
        "flags": sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4"))),
        "threads": args.threads,
    }
    result["command"] = f"python benchmarks/analysis_profile.py --threads {args.threads} --out {args.out}"
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
