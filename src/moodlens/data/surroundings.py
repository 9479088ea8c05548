"""A face set in other surroundings: what the shift suite measures a model on and what training can add
(issue 24), one definition for both."""

from __future__ import annotations

import cv2
import numpy as np

MARGINS = ("grey", "noise", "crowd")  # what the shift suite reads
# Kinds of surroundings the shift suite never reads, for training that is measured on it with no kind seen:
# a flat colour drawn at random, and a crowd photo blurred out of focus.
TRAINING_MARGINS = ("flat", "blur", "crowd")
EVERY_MARGIN = (*MARGINS, "flat", "blur")
WIDTHS = (160, 64, 32, 24)  # face widths (px) the shift suite reads; training renders faces between the extremes


def in_surroundings(
    photo: np.ndarray, box: tuple, width: int, margin: str, backdrop: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The face of `photo` (its `box`, with half a box around it) at `width` px in the middle of a canvas three
    times that, on a plain grey margin, on noise, on `backdrop` (a crowd photo) resized to the canvas, on a flat
    colour drawn from `rng` or on the backdrop blurred."""
    x, y, w, h = box
    left, top = max(0, x - w // 2), max(0, y - h // 2)
    region = photo[top : min(photo.shape[0], y + h + h // 2), left : min(photo.shape[1], x + w + w // 2)]
    scale = width / w
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    face = cv2.resize(region, None, fx=scale, fy=scale, interpolation=interpolation)
    side = 3 * width
    if margin == "grey":
        canvas = np.full((side, side, 3), 128, np.uint8)
    elif margin == "noise":
        canvas = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    elif margin == "crowd":
        canvas = cv2.resize(backdrop, (side, side), interpolation=cv2.INTER_AREA)
    elif margin == "flat":
        canvas = np.empty((side, side, 3), np.uint8)
        canvas[:] = rng.integers(0, 256, 3, dtype=np.uint8)
    elif margin == "blur":
        canvas = cv2.GaussianBlur(cv2.resize(backdrop, (side, side), interpolation=cv2.INTER_AREA), (0, 0), side / 30)
    else:
        raise ValueError(f"margin must be one of {EVERY_MARGIN}, got {margin!r}")
    fh, fw = min(face.shape[0], side), min(face.shape[1], side)
    oy, ox = (side - fh) // 2, (side - fw) // 2
    canvas[oy : oy + fh, ox : ox + fw] = face[:fh, :fw]
    return canvas
