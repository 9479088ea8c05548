"""Drawing results onto images: numbered boxes, labels and labelled probability bars where they fit, a legend
and mood panel under the picture, and blurring faces for privacy. Text is sized to the picture, so it stays
legible on large photos."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from moodlens.runtime.crowd import CrowdSummary, percent, share_text
from moodlens.runtime.results import Face

# One colour per emotion (RGB); the web page gets them from GET /v1/models.
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
UNREADABLE = (90, 90, 90)  # faces found but too small to read
FONT = cv2.FONT_HERSHEY_SIMPLEX
Rect = tuple[int, int, int, int]  # x, y, w, h


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


@dataclass
class Placement:
    """Where one face's number, label and probability bars go. A label that covers something is only drawn
    for a face picked out (the page's tapped face, on top); bars that would cover something are None."""

    number: Rect
    label: Rect | None  # None: an unreadable face, or no spot inside the picture
    bars: Rect | None
    label_covers: bool = False


@dataclass
class Style:
    """Text and bar sizes for a picture: a line of text is 1/70 of the longer side, at least 12 px."""

    scale: float
    thickness: int
    line: int  # pixels per line of text

    @classmethod
    def for_image(cls, width: int, height: int) -> Style:
        return cls.for_line(max(12, round(max(width, height) / 70)))

    @classmethod
    def for_line(cls, line: int) -> Style:
        scale = line / 30  # FONT at scale 1 is about 22 px tall, plus room around it
        return cls(scale, max(1, round(line / 12)), line)

    def text_width(self, text: str) -> int:
        return cv2.getTextSize(text, FONT, self.scale, self.thickness)[0][0] + self.line // 3


def overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def inside(rect: Rect, width: int, height: int) -> bool:
    return rect[0] >= 0 and rect[1] >= 0 and rect[0] + rect[2] <= width and rect[1] + rect[3] <= height


def layout(faces: list[Face], width: int, height: int, style: Style, bars: bool = True) -> list[Placement]:
    """Each face's number inside its box's corner; its label above the box (left or right aligned) or below
    it, and its bars beside it, each where it stays in the picture and covers no other face, number, label or
    bars. Bigger faces are placed first. A label with no free spot keeps the first spot inside the picture,
    marked `label_covers`. The one placement the annotated pictures and the page (via the API) both draw."""
    boxes = [tuple(face.box) for face in faces]
    numbers = [
        (x, y, style.text_width(badge(face, i)), style.line)
        for i, (face, (x, y, _, _)) in enumerate(zip(faces, boxes, strict=True))
    ]
    taken: list[Rect] = [*boxes, *numbers]
    placements = [Placement(number, None, None) for number in numbers]
    for i in sorted(range(len(faces)), key=lambda i: -boxes[i][2] * boxes[i][3]):
        x, y, w, h = boxes[i]
        own = (boxes[i], numbers[i])

        def free(rect: Rect, own=own) -> bool:
            return inside(rect, width, height) and not any(overlaps(rect, other) for other in taken if other not in own)

        if not faces[i].readable:
            continue
        label_w = style.text_width(label_text(faces[i]))
        line = style.line
        spots = [(x, y - line, label_w, line), (x, y + h, label_w, line), (x + w - label_w, y - line, label_w, line)]
        label = next((r for r in spots if free(r)), None)
        if label:
            taken.append(label)
            placements[i].label = label
        else:
            placements[i].label = next((r for r in spots if inside(r, width, height)), None)
            placements[i].label_covers = placements[i].label is not None
        if bars:
            panel_w = style.text_width("surprise 100 %") + 4 * style.line
            panel_h = style.line * len(faces[i].scores)
            sides = [
                (x + w + style.line // 4, y, panel_w, panel_h),
                (x - panel_w - style.line // 4, y, panel_w, panel_h),
            ]
            placements[i].bars = next((r for r in sides if free(r)), None)
            if placements[i].bars:
                taken.append(placements[i].bars)
    return placements


def badge(face: Face, index: int) -> str:
    """The number shown on a face: its track in a video, else its place in the image's list of faces (from 1)."""
    return str(face.track if face.track is not None else index + 1)


def label_text(face: Face) -> str:
    return f"{face.emotion} {percent(face.scores[face.emotion])}"


def annotate(
    image: np.ndarray, faces: list[Face], summary: CrowdSummary, blur: bool = False, bars: bool = True
) -> np.ndarray:
    """A copy of the RGB image with every face boxed and numbered, labelled and given its probability bars
    where there is room for them, over a panel with the legend and the mood of its faces (their `summary`)."""
    out = blur_faces(image, faces) if blur else image.copy()
    style = Style.for_image(out.shape[1], out.shape[0])
    for i, (face, place) in enumerate(zip(faces, layout(faces, out.shape[1], out.shape[0], style, bars), strict=True)):
        color = COLORS.get(face.emotion, (255, 255, 255)) if face.readable else UNREADABLE
        x, y, w, h = face.box
        cv2.rectangle(out, (x, y), (x + w, y + h), color, style.thickness + (1 if face.readable else 0))
        draw_text_box(out, place.number, badge(face, i), color, style)
        if place.label and not place.label_covers:  # only readable faces get one
            draw_text_box(out, place.label, label_text(face), color, style)
        if place.bars:
            draw_bars(out, face, place.bars, style)
    return np.vstack([out, mood_panel(summary, out.shape[1], style)])


def mood_panel(summary: CrowdSummary, width: int, style: Style) -> np.ndarray:
    """A strip for under the picture: faces found and read, then a legend of the emotion colours giving each
    emotion's share of the readable faces with its 95 % interval. Its height depends on the width only, so
    every frame of a video gets the same."""
    unread = summary.faces - summary.readable
    header = summary.lines[0] + (" (the others too small to read)" if unread else "")
    ranked = sorted(summary.shares, key=lambda label: -(summary.shares[label].share or 0))
    entries = [(COLORS.get(label, (255, 255, 255)), share_text(summary, label)) for label in ranked]
    entries.append((UNREADABLE, f"unreadable {unread}"))
    cell = style.text_width("surprise 100 % (100-100 %)") + style.line
    columns = max(1, width // cell)
    pad = style.line // 2
    panel = np.full((style.line * (1 + math.ceil(len(entries) / columns)) + 2 * pad, width, 3), 255, np.uint8)
    put_text(panel, header, pad, pad + style.line, style)
    for k, (color, text) in enumerate(entries):
        row, column = divmod(k, columns)
        x, top = pad + column * cell, pad + (row + 1) * style.line
        cv2.rectangle(panel, (x, top + 3), (x + style.line - 6, top + style.line - 3), color, -1)
        put_text(panel, text, x + style.line, top + style.line, style)
    return panel


def put_text(out: np.ndarray, text: str, x: int, bottom: int, style: Style, color: tuple = (0, 0, 0)) -> None:
    """`text` on the line of text ending at `bottom`."""
    cv2.putText(out, text, (x, bottom - style.line // 4), FONT, style.scale, color, style.thickness, cv2.LINE_AA)


def draw_text_box(out: np.ndarray, rect: Rect, text: str, color: tuple, style: Style) -> None:
    x, y, w, h = rect
    cv2.rectangle(out, (x, y), (x + w, y + h), color, -1)
    put_text(out, text, x + style.line // 6, y + h, style)


def draw_bars(out: np.ndarray, face: Face, rect: Rect, style: Style) -> None:
    """One row per emotion: its name and probability as text, and a bar of its colour."""
    x, y, w, _ = rect
    bar_w = 4 * style.line
    for row, (label, p) in enumerate(face.scores.items()):
        top = y + row * style.line
        cv2.rectangle(out, (x, top), (x + w, top + style.line), (30, 30, 30), -1)
        cv2.rectangle(
            out,
            (x + 1, top + 2),
            (x + 1 + round(bar_w * p), top + style.line - 2),
            COLORS.get(label, (255, 255, 255)),
            -1,
        )
        put_text(out, f"{label} {percent(p)}", x + bar_w + 4, top + style.line, style, (255, 255, 255))
