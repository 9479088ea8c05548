"""Drawing results onto images: boxes, labels, probability bars, and blurring faces for privacy."""

from __future__ import annotations

import cv2
import numpy as np

from .results import Face

# One colour per emotion (RGB), shared with the web page's palette.
COLORS = {
    "angry": (220, 50, 47),
    "disgust": (133, 153, 0),
    "fear": (108, 113, 196),
    "happy": (250, 190, 20),
    "sad": (38, 139, 210),
    "surprise": (211, 54, 130),
    "neutral": (160, 160, 160),
    "contempt": (203, 75, 22),
}


def blur_faces(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A copy with each face box blurred beyond recognition (a Gaussian a third of the face wide)."""
    out = image.copy()
    for face in faces:
        x, y, w, h = face.box
        region = out[y : y + h, x : x + w]
        if region.size:
            kernel = max(w, h) // 3 | 1
            out[y : y + h, x : x + w] = cv2.GaussianBlur(region, (kernel, kernel), 0)
    return out


def annotate(image: np.ndarray, faces: list[Face], blur: bool = False, bars: bool = True) -> np.ndarray:
    """A copy of the RGB image with every face boxed and labelled, and its probabilities as bars."""
    out = blur_faces(image, faces) if blur else image.copy()
    scale = max(0.4, min(1.2, max(out.shape[:2]) / 1000))
    thickness = max(1, round(2 * scale))
    for face in faces:
        x, y, w, h = face.box
        color = COLORS.get(face.emotion, (255, 255, 255))
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thickness)
        text = f"{face.emotion} {face.scores[face.emotion]:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, thickness)
        top = max(0, y - th - base - 4)
        cv2.rectangle(out, (x, top), (x + tw + 4, top + th + base + 4), color, -1)
        cv2.putText(out, text, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0), thickness)
        if bars:
            draw_bars(out, face, x + w + 3, y, max(24, h))
    return out


def draw_bars(out: np.ndarray, face: Face, left: int, top: int, height: int) -> None:
    """A column of horizontal bars, one per label, beside the face box (skipped where it doesn't fit)."""
    bar_h = max(2, height // len(face.scores))
    width = max(16, height // 3)
    if left + width > out.shape[1]:
        return
    for i, (label, p) in enumerate(face.scores.items()):
        y = top + i * bar_h
        if y + bar_h > out.shape[0]:
            break
        cv2.rectangle(out, (left, y), (left + width, y + bar_h - 1), (40, 40, 40), -1)
        cv2.rectangle(out, (left, y), (left + round(width * p), y + bar_h - 1), COLORS.get(label, (255, 255, 255)), -1)
