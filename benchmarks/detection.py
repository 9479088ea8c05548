"""Face detectors compared on ../shared/data/faces: recall of the hand-made dlib boxes, false detections, speed.

    python benchmarks/detection.py [--out benchmarks/results/detection.json]

A box counts as found when a detection overlaps it with IoU >= 0.4 (each detection matches one box);
detections that match no box count as false when they are as wide as dlib's boxes can be (30 px), as
unboxed small faces when narrower (dlib left the background faces of its photos unboxed). Also
reported: faces found in the unannotated crowd and group photos, the share of muxspace portraits with a
face, and milliseconds for one 640x480 frame.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
from paths import SHARED

from moodlens.evaluation.boxes import BoxScore, read_imglab
from moodlens.runtime.detection import load_detector
from moodlens.runtime.imaging import read_image

CANDIDATES = {  # first passes of several sizes alone (at 0.5), and the default as shipped (crowd pass when needed)
    "centerface-640": ("centerface", {"max_side": 640, "threshold": 0.5, "crowd": "off", "threads": 1}),
    "centerface-480": ("centerface", {"max_side": 480, "threshold": 0.5, "crowd": "off", "threads": 1}),
    "centerface-416": ("centerface", {"max_side": 416, "threshold": 0.5, "crowd": "off", "threads": 1}),
    "centerface-320": ("centerface", {"max_side": 320, "threshold": 0.5, "crowd": "off", "threads": 1}),
    "centerface-320, crowd pass when needed, threshold 0.4 (default)": ("centerface", {"max_side": 320, "threads": 1}),
    "centerface-256": ("centerface", {"max_side": 256, "threshold": 0.5, "crowd": "off", "threads": 1}),
    "centerface-320-t0.35": ("centerface", {"max_side": 320, "threshold": 0.35, "crowd": "off", "threads": 1}),
    "haar": ("haar", {}),
}


def evaluate(detector, truth: dict, others: list[Path], portraits: list[Path]) -> dict:
    score = BoxScore()
    for path, expected in truth.items():
        score.add(expected, [d.box for d in detector.detect(read_image(path))])
    frame = cv2.resize(read_image(others[0]), (640, 480))
    detector.detect(frame)
    start = time.perf_counter()
    for _ in range(20):
        detector.detect(frame)
    ms = (time.perf_counter() - start) / 20 * 1000
    with_face = sum(bool(detector.detect(read_image(p))) for p in portraits)
    return {
        **vars(score),
        "recall": score.found / score.boxes,
        "faces_in": {p.name: len(detector.detect(read_image(p))) for p in others},
        "portraits_with_face": with_face,
        "portraits": len(portraits),
        "ms_640x480": ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/detection.json")
    parser.add_argument("--portraits", type=int, default=300, help="muxspace photos to run on")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    truth = {**read_imglab(SHARED / "faces/dlib/training.xml"), **read_imglab(SHARED / "faces/dlib/testing.xml")}
    others = [SHARED / "faces/dlib/bald_guys.jpg", SHARED / "faces/deepface/selfie-many-people.jpg"]
    others.append(SHARED / "faces/deepface/couple.jpg")
    portraits = sorted((SHARED / "muxspace" / "images").iterdir())[: args.portraits]
    results = {}
    for label, (name, options) in CANDIDATES.items():
        results[label] = evaluate(load_detector(name, **options), truth, others, portraits)
        print(label, json.dumps(results[label]))
    meta = {"machine": platform.processor() or platform.machine(), "threads": 1, "iou": 0.4}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "detectors": results}, indent=2))


if __name__ == "__main__":
    main()
