"""Scoring a face detector against hand-made boxes (dlib's imglab XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from moodlens.runtime.boxes import Box, greedy_matches, iou
from moodlens.runtime.detection import Detection


def read_imglab(xml: Path) -> dict[Path, list[Box]]:
    """{image path: [x, y, w, h] boxes} from an imglab XML file (paths relative to the file)."""
    return {
        xml.parent / image.get("file"): [
            (int(b.get("left")), int(b.get("top")), int(b.get("width")), int(b.get("height")))
            for b in image.iter("box")
        ]
        for image in ET.parse(xml).getroot().iter("image")
    }


def matched_pairs(truth: list[Box], found: list[Box], min_iou: float = 0.4) -> dict[int, int]:
    """{true box index: detection index}, matching one to one, highest IoU first."""
    return greedy_matches(truth, found, iou, min_iou)


def matched_boxes(truth: list[Box], found: list[Detection], min_iou: float = 0.4) -> int:
    """How many true boxes a detection covers, matching one to one, highest IoU first."""
    return len(matched_pairs(truth, [f.box for f in found], min_iou))
