"""Scoring a face detector against hand-made boxes (dlib's imglab XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from moodlens.runtime.boxes import Box, greedy_matches, iou

LABELLED_WIDTH = 30  # dlib's hand boxes are 37 px and wider: smaller faces in its photos are not boxed


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


@dataclass
class BoxScore:
    """Boxed faces found; detections matching no box: `false_detections` as wide as the boxed faces can be,
    `unboxed_small` narrower (background faces that hand-made boxes leave out, and any false ones)."""

    found: int = 0
    boxes: int = 0
    false_detections: int = 0
    unboxed_small: int = 0

    def add(self, truth: list[Box], found: list[Box], labelled_width: int = LABELLED_WIDTH) -> None:
        matched = set(matched_pairs(truth, found).values())
        unmatched = [box for i, box in enumerate(found) if i not in matched]
        self.found += len(matched)
        self.boxes += len(truth)
        self.false_detections += sum(box[2] >= labelled_width for box in unmatched)
        self.unboxed_small += sum(box[2] < labelled_width for box in unmatched)
