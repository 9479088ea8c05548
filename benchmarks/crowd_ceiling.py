"""How far CenterFace can go on the crowd photos: recall and precision at every threshold, and box shapes.

    python benchmarks/crowd_ceiling.py [--out benchmarks/results/crowd_ceiling.json]

On ../shared/data/crowds/wider416 with the crowd pass always on (the most the detector finds), scored as
benchmarks/crowd_detection.py scores (IoU >= 0.4, one to one): recall of faces of 8 and 16 px and more and
precision at thresholds 0.2 to 0.5. The lowest threshold gives the ceiling: faces no threshold can find.
Also the height-to-width ratio of the labelled boxes and of the detections that best overlap them (IoU >=
0.2), by face width: the photos were stretched to 416x416, so their faces are taller than the detector's
boxes, which costs overlap on the smallest faces.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from crowd_detection import WIDTHS, crowd_scores, wider416

from moodlens.runtime.boxes import iou
from moodlens.runtime.detection import load_detector

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def box_shapes(detector, truth: dict[str, list], images: dict[str, np.ndarray]) -> dict:
    """Median height / width of the labelled boxes and of their best-overlapping detections, by face width."""
    shapes: dict[str, list] = {bucket: [] for bucket in WIDTHS}
    for name, boxes in truth.items():
        found = [d.box for d in detector.detect(images[name])]
        for box in boxes:
            overlap, best = max(((iou(box, f), f) for f in found), default=(0.0, None), key=lambda t: t[0])
            if overlap >= 0.2:
                bucket = next(k for k, (low, high) in WIDTHS.items() if low <= box[2] < high)
                shapes[bucket].append((box[3] / box[2], best[3] / best[2], overlap))
    medians = {bucket: np.median(rows, axis=0).round(3).tolist() for bucket, rows in shapes.items()}
    return {
        bucket: {"labelled_h_w": labelled, "detected_h_w": detected, "iou": overlap, "faces": len(shapes[bucket])}
        for bucket, (labelled, detected, overlap) in medians.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/crowd_ceiling.json")
    args = parser.parse_args()
    truth, images = wider416()
    curve = {}
    for threshold in THRESHOLDS:
        scores = crowd_scores(load_detector("centerface", crowd="on", threshold=threshold), truth, images)
        curve[str(threshold)] = {k: scores[k] for k in ("recall_8px_and_more", "recall_16px_and_more", "precision")}
        print(threshold, json.dumps(curve[str(threshold)]))
    shapes = box_shapes(load_detector("centerface", crowd="on", threshold=THRESHOLDS[0]), truth, images)
    print(json.dumps(shapes))
    meta = {"cores": os.cpu_count(), "iou": 0.4, "photos": len(images), "crowd": "on"}
    report = {"meta": meta, "by_threshold": curve, "box_shapes_by_width": shapes}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
