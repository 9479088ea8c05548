"""How far CenterFace can go on the crowd photos: recall and precision at every threshold, and box shapes.

    python benchmarks/crowd_ceiling.py [--out benchmarks/results/crowd_ceiling.json]

On ../shared/data/crowds/wider416 with the crowd pass always on (the most the detector finds), scored as
benchmarks/crowd_detection.py scores (IoU >= 0.4, one to one): recall of faces of 8 and 16 px and more and
precision at thresholds 0.2 to 0.5. The lowest threshold gives the ceiling: faces no threshold can find.
Also the height-to-width ratio of the labelled boxes and of the detections that best overlap them (IoU >=
0.2), by face width: the photos were stretched to 416x416, so their faces are taller than the detector's
boxes, which costs overlap on the smallest faces. Last, thresholds that depend on the detection's width
(under 8, 8-16, 16 px and more; a grid of 80), filtering the detections at 0.2: the best recall of faces
of 8 px and more among those with precision >= 0.85.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

import numpy as np
from crowd_detection import WIDTHS, box_scores, crowd_scores, wider416

from moodlens.runtime.boxes import iou
from moodlens.runtime.detection import load_detector

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
WIDTH_GRID = ((0.3, 0.35, 0.4, 0.45, 0.5), (0.25, 0.3, 0.35, 0.4), (0.2, 0.25, 0.3, 0.35))  # < 8, 8-16, >= 16 px


def best_width_thresholds(found: dict[str, list], truth: dict[str, list]) -> dict:
    """The width-dependent thresholds of WIDTH_GRID with the highest recall of faces >= 8 px at precision >= 0.85."""
    best = {"recall_8px_and_more": 0.0}
    for thresholds in itertools.product(*WIDTH_GRID):
        kept = {
            name: [d.box for d in found[name] if d.score >= thresholds[(d.box[2] >= 8) + (d.box[2] >= 16)]]
            for name in truth
        }
        scores = box_scores(kept, truth)
        if scores["precision"] >= 0.85 and scores["recall_8px_and_more"] > best["recall_8px_and_more"]:
            best = {"thresholds": thresholds, **{k: scores[k] for k in ("recall_8px_and_more", "precision")}}
    return best


def box_shapes(found: dict[str, list], truth: dict[str, list]) -> dict:
    """Median height / width of the labelled boxes and of their best-overlapping detections, by face width."""
    shapes: dict[str, list] = {bucket: [] for bucket in WIDTHS}
    for name, boxes in truth.items():
        found_boxes = [d.box for d in found[name]]
        for box in boxes:
            overlap, best = max(((iou(box, f), f) for f in found_boxes), default=(0.0, None), key=lambda t: t[0])
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
    lowest = load_detector("centerface", crowd="on", threshold=THRESHOLDS[0])
    found = {name: lowest.detect(image) for name, image in images.items()}
    shapes, by_width = box_shapes(found, truth), best_width_thresholds(found, truth)
    print(json.dumps(shapes), json.dumps(by_width))
    meta = {"cores": os.cpu_count(), "iou": 0.4, "photos": len(images), "crowd": "on"}
    report = {"meta": meta, "by_threshold": curve, "box_shapes_by_width": shapes, "width_thresholds": by_width}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
