"""Cutting detected faces out of photos the way the emotion models saw faces in training."""

from __future__ import annotations

import cv2
import numpy as np

# FER-2013 faces are loose, upright crops. A square of side (1 + MARGIN) * max(w, h) around a
# CenterFace box scored best on the muxspace photos (benchmarks/results/crop_margin.json).
MARGIN = 0.2


def square_around(box: tuple[int, int, int, int], margin: float) -> tuple[int, int, int]:
    """Left, top and side of the square of side (1 + margin) * max(w, h) centred on the box."""
    x, y, w, h = box
    side = max(1, round(max(w, h) * (1 + margin)))
    return round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side


def crop_faces(
    image: np.ndarray, boxes: list[tuple[int, int, int, int]], size: int, channels: int, margin: float = MARGIN
) -> np.ndarray:
    """(N, size, size, channels) uint8 faces from an RGB image; parts outside the image repeat its edge."""
    faces = np.zeros((len(boxes), size, size, channels), np.uint8)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if channels == 1 else image
    height, width = image.shape[:2]
    for i, box in enumerate(boxes):
        left, top, side = square_around(box, margin)
        x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, width), min(top + side, height)
        patch = cv2.copyMakeBorder(
            gray[y0:y1, x0:x1], y0 - top, top + side - y1, x0 - left, left + side - x1, cv2.BORDER_REPLICATE
        )
        resized = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
        faces[i] = resized.reshape(size, size, channels)
    return faces
