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


def padded_square(image: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    """image[top : top + side, left : left + side], with the image's edge repeated where it runs out."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, width), min(top + side, height)
    if x0 >= x1 or y0 >= y1:  # wholly outside: repeat the nearest pixel
        x0, y0 = min(max(left, 0), width - 1), min(max(top, 0), height - 1)
        x1, y1 = x0 + 1, y0 + 1
    return cv2.copyMakeBorder(
        image[y0:y1, x0:x1],
        max(0, y0 - top),
        max(0, top + side - y1),
        max(0, x0 - left),
        max(0, left + side - x1),
        cv2.BORDER_REPLICATE,
    )


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
    for i, box in enumerate(boxes):
        if eyes and eyes[i]:
            face = aligned_crop(gray, box, eyes[i], size, margin)
        else:
            left, top, side = square_around(box, margin)
            face = cv2.resize(padded_square(gray, left, top, side), (size, size), interpolation=cv2.INTER_AREA)
        faces[i] = face.reshape(size, size, channels)
    return faces


def aligned_crop(image: np.ndarray, box: tuple[int, int, int, int], eyes, size: int, margin: float) -> np.ndarray:
    """The square crop of `square_around`, rotated about the box centre so the eyes are level.

    Only the region the rotated square can reach is cut out and, for large faces, shrunk first, so that
    the cost does not grow with the photo and the rotation's bilinear sampling does not alias.
    """
    (lx, ly), (rx, ry) = eyes
    x, y, w, h = box
    _, _, side = square_around(box, margin)
    reach = int(np.ceil(side * 0.75))  # half the region; a rotated square's corners stay within side / sqrt(2)
    left, top = round(x + w / 2) - reach, round(y + h / 2) - reach
    region = padded_square(image, left, top, 2 * reach)
    factor = min(1.0, 2 * size / side)
    if factor < 1.0:
        region = cv2.resize(region, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    cx, cy = (x + w / 2 - left) * factor, (y + h / 2 - top) * factor
    angle = np.degrees(np.arctan2(ry - ly, rx - lx))
    rotation = cv2.getRotationMatrix2D((cx, cy), angle, size / (side * factor))
    rotation[:, 2] += (size / 2 - cx, size / 2 - cy)
    return cv2.warpAffine(region, rotation, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
