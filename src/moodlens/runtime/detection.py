"""Face detectors that need no PyTorch: CenterFace on ONNX Runtime (default) and OpenCV's Haar cascade.

Every detector maps an RGB uint8 image (H, W, 3) to a list of `Detection`s in that image's pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort

from moodlens.runtime.classifier import session_options
from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.weights import detector_file

# The default confidence a detection needs: on crowd photos 0.4 finds more small faces than 0.5 at 0.91
# precision, with no false detection among the hand-boxed faces (benchmarks/results/crowd_detection.json).
THRESHOLD = 0.4
# How far (in eye distances, along the eye line) the nose may lie from the middle of the eyes for a face to
# count as turned towards the camera (benchmarks/results/facing.json).
FACING_OFFSET = 0.25


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels
    score: float
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None  # (left, right) eye centres, if known
    nose: tuple[float, float] | None = None  # the tip of the nose, if known

    def nose_offset(self) -> float | None:
        """How far the nose lies from the middle of the eyes, in eye distances along the line between them (a
        head turned aside brings the nose towards one eye); None without landmarks."""
        if self.eyes is None or self.nose is None:
            return None
        (lx, ly), (rx, ry) = self.eyes
        along = np.array([rx - lx, ry - ly])
        span = float(along @ along)
        if span < 1.0:  # eyes less than a pixel apart: no direction to measure in
            return math.inf
        return float((np.array(self.nose) - [(lx + rx) / 2, (ly + ry) / 2]) @ along / span)

    def facing(self) -> bool | None:
        """Turned towards the camera: the nose within FACING_OFFSET eye distances of the middle of the eyes."""
        offset = self.nose_offset()
        return None if offset is None else abs(offset) <= FACING_OFFSET


class DetectorError(MoodlensError):
    pass


DETECTORS: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(fn: Callable[..., FaceDetector]) -> Callable[..., FaceDetector]:
    if fn.__name__ in DETECTORS:
        raise ValueError(f"detector {fn.__name__!r} is registered twice")
    DETECTORS[fn.__name__] = fn
    return fn


def load_detector(name: str = "centerface", **options) -> FaceDetector:
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose from {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name](**options)


class FaceDetector:
    def detect(self, image: np.ndarray, still: bool = True) -> list[Detection]:
        """still: a photo rather than a video frame, where a detector may spend more time to find every face."""
        raise NotImplementedError


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices of the boxes (N, 4 as x, y, w, h) that survive NMS, best first."""
    if len(boxes) == 0:
        return []
    keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), score_threshold=0.0, nms_threshold=iou)
    return [int(i) for i in np.asarray(keep).reshape(-1)]


CROWD_MODES = ("auto", "on", "off")
MAX_SIDE = 320  # the longer side (px) the first pass sees
# columns of raw detections (see centerface.network) that are x or y positions, and those that are also sizes
X_POSITIONS, Y_POSITIONS = [0, 5, 7, 9], [1, 6, 8, 10]
X_COLUMNS, Y_COLUMNS = [*X_POSITIONS, 2], [*Y_POSITIONS, 3]


@register_detector
class centerface(FaceDetector):
    """CenterFace (anchor-free, stride 4): a first pass at up to `max_side` pixels on the image's longer side,
    then, in crowds, a crowd pass in overlapping tiles: at the image's own resolution and at twice it for images
    up to 1024 px; from coarser to the image's own for larger ones, finer only where faces were small
    (`crowd_passes`); merged with the first by non-maximum suppression.

    320 found every hand-boxed face at a sixth of the cost of 640 (benchmarks/results/detection.json). With
    `crowd="auto"` the crowd pass runs on a video frame when the first pass finds a sure face under SMALL_FACE
    network pixels wide (there may be smaller ones it cannot see); on a still photo also when the photo is over
    4 * max_side, when the first pass finds no sure face, or any hint (CROWD_HINT) of a small one. "on" always
    runs it, "off" never (benchmarks/results/crowd_detection.json).
    """

    SMALL_FACE = 16  # network pixels: faces narrower than this at the first pass's scale mean a crowd
    CROWD_EVIDENCE = 0.5  # the least score of a first-pass face that can call for the crowd pass in a frame
    CROWD_HINT = 0.3  # the least score of a small first-pass face that calls for it in a still photo
    TILE = 1024  # the largest network input side of a crowd-pass tile; tiles overlap by TILE_OVERLAP
    TILE_OVERLAP = 96

    def __init__(
        self,
        threshold: float = THRESHOLD,
        max_side: int = MAX_SIDE,
        nms_iou: float = 0.3,
        threads: int | None = None,
        crowd: str = "auto",
    ):
        if crowd not in CROWD_MODES:
            raise DetectorError(f"crowd must be one of {', '.join(CROWD_MODES)}, got {crowd!r}")
        self.session = ort.InferenceSession(
            str(detector_file("centerface")), session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.threshold, self.max_side, self.nms_iou, self.crowd = threshold, max_side, nms_iou, crowd

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """Input size (multiples of 32) that keeps the aspect ratio, at most max_side on the long side."""
        scale = min(1.0, self.max_side / max(height, width))
        return max(32, round(height * scale / 32) * 32), max(32, round(width * scale / 32) * 32)

    def detect(self, image: np.ndarray, still: bool = True) -> list[Detection]:
        height, width = image.shape[:2]
        net_h, net_w = self.network_size(height, width)
        first = self.pass_at(image, net_w, net_h, min(self.threshold, self.CROWD_HINT))
        passes = [first[first[:, 4] > self.threshold]]
        if self.wants_crowd_pass(first, net_w / width, max(width, height), still):
            passes += self.crowd_passes(image, first)
        return self.merged(passes, width, height)

    def crowd_passes(self, image: np.ndarray, first: np.ndarray) -> list[np.ndarray]:
        """Raw detections of the crowd pass. A photo up to TILE px: at its own size and at twice it. A larger one:
        at the coarsest scale (a power of two) at which the first pass's smallest hinted face is still
        2 * SMALL_FACE network pixels wide, then, while a pass finds faces under SMALL_FACE network pixels (where
        smaller ones may hide), at twice its scale up to the photo's own size, in place of that pass's small
        faces. (Searching only the tiles with small faces lost 3 points of recall on a 12-MP crowd: tiny faces
        sit beside big ones.)"""
        long_side = max(image.shape[:2])
        if long_side <= self.TILE:
            return [self.tiled_pass(image, 1), self.tiled_pass(image, 2)]
        scale = self.coarse_scale(first, long_side)
        passes = [self.tiled_pass(image, scale)]
        while scale < 1:
            coarse = passes[-1]
            too_small = coarse[:, 2] * scale < self.SMALL_FACE
            if not too_small.any():
                break
            passes[-1] = coarse[~too_small]  # the finer pass finds these again, with better boxes
            scale *= 2
            passes.append(self.tiled_pass(image, scale))
        return passes

    def coarse_scale(self, first: np.ndarray, long_side: int) -> float:
        """The scale the crowd pass starts at: 1 (the photo's own size) unless every face the first pass hints
        at would still be 2 * SMALL_FACE network pixels wide at half of it, and the photo twice as large as the
        first pass saw it; and so on, halving."""
        hinted = first[first[:, 4] >= self.CROWD_HINT, 2]
        scale = 1.0
        while (
            len(hinted)
            and scale / 2 * hinted.min() >= 2 * self.SMALL_FACE
            and scale / 2 * long_side >= 2 * self.max_side
        ):
            scale /= 2
        return scale

    def wants_crowd_pass(self, first: np.ndarray, scale: float, long_side: int, still: bool) -> bool:
        if self.crowd != "auto":
            return self.crowd == "on"
        small = first[:, 2] * scale < self.SMALL_FACE  # in network pixels
        # only sure detections count in frames, so that a detector run at a low floor (the server filters each
        # request by its own threshold) does not take every speck in a webcam frame for a crowd
        sure = first[:, 4] >= max(self.threshold, self.CROWD_EVIDENCE)
        if not still:
            return bool((small & sure).any())
        hint = first[:, 4] >= self.CROWD_HINT
        return long_side > 4 * self.max_side or not sure.any() or bool((small & hint).any())

    def pass_at(self, image: np.ndarray, width: int, height: int, floor: float) -> np.ndarray:
        """Raw detections (N, 11: see `network`) scoring over `floor`, in image pixels, from one run of the
        network on the image resized to width x height (multiples of 32)."""
        resized, sx, sy = resized_for_network(image, width, height)
        raw = self.network(resized, floor)
        raw[:, X_COLUMNS] /= sx
        raw[:, Y_COLUMNS] /= sy
        return raw

    def tiled_pass(self, image: np.ndarray, scale: float) -> np.ndarray:
        """Raw detections from the image at `scale` times its size, in overlapping tiles of at most TILE x TILE
        (padded to multiples of 32), so that memory and time grow with the tiles, not with the square of the
        side."""
        scaled, sx, sy = resized_for_network(image, round(image.shape[1] * scale), round(image.shape[0] * scale))
        height, width = scaled.shape[:2]
        found = [np.zeros((0, 11), np.float32)]
        tops, tile_h = tile_grid(height, self.TILE, self.TILE_OVERLAP)
        lefts, tile_w = tile_grid(width, self.TILE, self.TILE_OVERLAP)
        for top in tops:
            for left in lefts:
                tile = scaled[top : top + tile_h, left : left + tile_w]
                pad_h, pad_w = -tile.shape[0] % 32, -tile.shape[1] % 32
                if pad_h or pad_w:
                    tile = cv2.copyMakeBorder(tile, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT)
                raw = self.network(tile, self.threshold)
                raw[:, X_POSITIONS] += left
                raw[:, Y_POSITIONS] += top
                found.append(raw)
        raw = np.concatenate(found)
        raw[:, X_COLUMNS] /= sx
        raw[:, Y_COLUMNS] /= sy
        return raw

    def network(self, image: np.ndarray, floor: float) -> np.ndarray:
        """Raw detections (N, 11: x, y, w, h, score, left eye x, y, right eye x, y, nose x, y) scoring over
        `floor`, in the pixels of `image` (sides multiples of 32)."""
        x = image.transpose(2, 0, 1)[None].astype(np.float32)
        heat, scale, offset, landmarks = self.session.run(None, {self.input_name: x})
        ys, xs = np.nonzero(heat[0, 0] > floor)
        box_h = np.exp(scale[0, 0, ys, xs]) * 4
        box_w = np.exp(scale[0, 1, ys, xs]) * 4
        left = (xs + offset[0, 1, ys, xs] + 0.5) * 4 - box_w / 2
        top = (ys + offset[0, 0, ys, xs] + 0.5) * 4 - box_h / 2
        # landmark channels hold (y, x) pairs as fractions of the box: the two eyes, then the nose
        mark_x = landmarks[0, [1, 3, 5]][:, ys, xs] * box_w + left
        mark_y = landmarks[0, [0, 2, 4]][:, ys, xs] * box_h + top
        columns = [
            left,
            top,
            box_w,
            box_h,
            heat[0, 0, ys, xs],
            *(v for xy in zip(mark_x, mark_y, strict=True) for v in xy),
        ]
        return np.stack(columns, axis=1).astype(np.float32)

    def merged(self, passes: list[np.ndarray], width: int, height: int) -> list[Detection]:
        """One detection per face from raw detections of one or more passes, by non-maximum suppression, less
        those inside a much larger face (at full resolution the network also answers to parts of big faces)."""
        raw = np.concatenate(passes)
        kept = raw[non_max_suppression(raw[:, :4], raw[:, 4], self.nms_iou)]
        found = []
        for x, y, w, h, score, lx, ly, rx, ry, nx, ny in kept[~inside_larger_faces(kept[:, :4])].astype(float):
            found.append(clipped(np.array([x, y, w, h]), score, width, height, ((lx, ly), (rx, ry)), (nx, ny)))
        return found


@register_detector
class haar(FaceDetector):
    """OpenCV's frontal-face Haar cascade: fast, no network, but misses turned and small faces."""

    def __init__(self, threshold: float = 0.0, min_size: int = 20):
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise DetectorError(f"OpenCV has no Haar cascade at {path} (OpenCV 5 dropped them; use opencv<5)")
        self.threshold, self.min_size = threshold, min_size

    def detect(self, image: np.ndarray, still: bool = True) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_size, self.min_size), outputRejectLevels=True
        )
        height, width = gray.shape
        scores = np.ravel(weights)
        found = [clipped(np.asarray(b, float), float(w), width, height) for b, w in zip(boxes, scores, strict=True)]
        return sorted((d for d in found if d.score >= self.threshold), key=lambda d: -d.score)


def inside_larger_faces(boxes: np.ndarray, share: float = 0.6, ratio: float = 1.5) -> np.ndarray:
    """Which boxes (N, 4 as x, y, w, h) have `share` of their area inside a box `ratio` times as wide or wider,
    or `ratio` squared times their area (a wide box over the lower half of a face: its mouth and chin)."""
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    overlap_w = np.clip(np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None]), 0, None)
    overlap_h = np.clip(np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None]), 0, None)
    covered = overlap_w * overlap_h >= share * (boxes[:, 2] * boxes[:, 3])[:, None]
    area = boxes[:, 2] * boxes[:, 3]
    larger = (boxes[None, :, 2] >= ratio * boxes[:, None, 2]) | (area[None] >= ratio**2 * area[:, None])
    return (covered & larger).any(axis=1)


def resized_for_network(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float, float]:
    """The image at width x height, and the scales (x, y) from its pixels to those. Shrinking by k times or more
    (k >= 2) first averages k x k blocks, OpenCV's fast path of INTER_AREA, leaving out the last rows and columns
    short of a block; what remains is bilinear. (INTER_AREA at any other ratio cost 7 ms on a 3-MP photo, as
    much as the network; this finds the same WIDER crowd faces: benchmarks/results/crowd_detection.json.)"""
    rows, columns = image.shape[:2]
    block = min(columns // width, rows // height)
    if block >= 2:
        rows, columns = rows // block * block, columns // block * block
        image = cv2.resize(image[:rows, :columns], (columns // block, rows // block), interpolation=cv2.INTER_AREA)
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return image, width / columns, height / rows


def tile_grid(length: int, most: int, overlap: int) -> tuple[list[int], int]:
    """Where tiles start along a side of `length` px, and their common size: as few tiles of at most `most`
    px as cover it, each overlapping the next by at least `overlap`, evenly spread. Sizes and starts are
    multiples of 32 (the network's stride), so a tile sees its part as the whole image would; the last tile
    may end past the edge."""
    if length <= most:
        return [0], length
    most -= 32  # room for the last tile to grow to the edge
    count = math.ceil((length - overlap) / (most - overlap))
    size = min(most, math.ceil((length + (count - 1) * overlap) / count / 32) * 32)
    starts = [i * (length - size) // (count - 1) // 32 * 32 for i in range(count)]
    return starts, size + (32 if starts[-1] + size < length else 0)


def clipped(box: np.ndarray, score: float, width: int, height: int, eyes=None, nose=None) -> Detection:
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    x1, y1 = min(float(width), box[0] + box[2]), min(float(height), box[1] + box[3])
    return Detection((round(x0), round(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0))), score, eyes, nose)
