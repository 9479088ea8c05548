"""Scoring a face detector against hand-made boxes (dlib's imglab XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .detection import Detection, iou

Box = tuple[int, int, int, int]


def read_imglab(xml: Path) -> dict[Path, list[Box]]:
    """{image path: [x, y, w, h] boxes} from an imglab XML file (paths relative to the file)."""
    return {
        xml.parent / image.get("file"): [
            (int(b.get("left")), int(b.get("top")), int(b.get("width")), int(b.get("height")))
            for b in image.iter("box")
        ]
        for image in ET.parse(xml).getroot().iter("image")
    }


def matched_boxes(truth: list[Box], found: list[Detection], min_iou: float = 0.4) -> int:
    """How many true boxes a detection covers, matching one to one, highest IoU first."""
    pairs = sorted(((iou(t, f.box), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_truth: set[int] = set()
    used_found: set[int] = set()
    for overlap, i, j in pairs:
        if overlap >= min_iou and i not in used_truth and j not in used_found:
            used_truth.add(i)
            used_found.add(j)
    return len(used_truth)
