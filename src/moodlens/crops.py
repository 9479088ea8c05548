"""Cutting detected faces out of photos the way the emotion models saw faces in training."""

from __future__ import annotations

import cv2
import numpy as np

# FER-2013 faces are loose, upright crops. A square of side (1 + MARGIN) * max(w, h) around a
# CenterFace box, turned so the eyes are level, scored best on the muxspace photos for both shipped
# models (benchmarks/results/crop_margin.json).
MARGIN = 0.2


def square_around(box: tuple[int, int, int, int], margin: float) -> tuple[int, int, int]:
    """Left, top and side of the square of side (1 + margin) * max(w, h) centred on the box."""
    x, y, w, h = box
    side = max(1, round(max(w, h) * (1 + margin)))
    return round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side


def crop_faces(
    image: np.ndarray,
    boxes: list[tuple[int, int, int, int]],
    size: int,
    channels: int,
    margin: float = MARGIN,
    eyes: list | None = None,
) -> np.ndarray:
    """(N, size, size, channels) uint8 faces from an RGB image; parts outside the image repeat its edge.

    With `eyes` (per face ((left x, y), (right x, y)) or None) each face is turned so its eyes are level.
    """
    faces = np.zeros((len(boxes), size, size, channels), np.uint8)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if channels == 1 else image
    height, width = image.shape[:2]
    for i, box in enumerate(boxes):
        if eyes and eyes[i]:
            faces[i] = aligned_crop(gray, box, eyes[i], size, margin).reshape(size, size, channels)
            continue
        left, top, side = square_around(box, margin)
        x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, width), min(top + side, height)
        patch = cv2.copyMakeBorder(
            gray[y0:y1, x0:x1], y0 - top, top + side - y1, x0 - left, left + side - x1, cv2.BORDER_REPLICATE
        )
        resized = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
        faces[i] = resized.reshape(size, size, channels)
    return faces


def aligned_crop(image: np.ndarray, box: tuple[int, int, int, int], eyes, size: int, margin: float) -> np.ndarray:
    """The square crop of `square_around`, rotated about the box centre so the eyes are level."""
    (lx, ly), (rx, ry) = eyes
    _, _, side = square_around(box, margin)
    if side > 2 * size:  # shrink first so that the rotation's bilinear sampling does not alias
        factor = 2 * size / side
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        box, (lx, ly), (rx, ry) = tuple(v * factor for v in box), (lx * factor, ly * factor), (rx * factor, ry * factor)
        side *= factor
    x, y, w, h = box
    angle = np.degrees(np.arctan2(ry - ly, rx - lx))
    rotation = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, size / side)
    rotation[:, 2] += (size / 2 - (x + w / 2), size / 2 - (y + h / 2))
    return cv2.warpAffine(image, rotation, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
