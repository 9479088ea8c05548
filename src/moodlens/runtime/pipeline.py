"""The analysis pipeline: find every face, classify all faces of a batch in one ONNX Runtime call.

No PyTorch is imported here: `Analyzer` needs only ONNX Runtime, OpenCV, NumPy and Pillow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

import cv2
import numpy as np

from moodlens.runtime.calibration import Calibration
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.crops import MARGIN, crop_faces
from moodlens.runtime.detection import THRESHOLD, Detection, load_detector
from moodlens.runtime.imaging import ImageError, read_image
from moodlens.runtime.results import READABLE_WIDTH, Face, ImageResult
from moodlens.runtime.weights import DEFAULT_MODEL, resolve_onnx

ImageSource = str | os.PathLike | bytes | np.ndarray
T = TypeVar("T")


def as_rgb(source: ImageSource, name: str | None = None) -> np.ndarray:
    """A path or encoded bytes is decoded; an array is taken as RGB (H, W, 3) or grey (H, W) uint8."""
    if not isinstance(source, np.ndarray):
        return read_image(source, name=name)
    if source.dtype != np.uint8 or source.ndim not in (2, 3) or (source.ndim == 3 and source.shape[2] not in (3, 4)):
        raise ImageError(
            f"an image array must be uint8 (H, W), (H, W, 3) or (H, W, 4), not {source.dtype} {source.shape}"
        )
    if source.ndim == 2:
        return cv2.cvtColor(source, cv2.COLOR_GRAY2RGB)
    return source[..., :3]


class Analyzer:
    """Faces and their emotions in photos and frames.

    >>> Analyzer().analyze("group.jpg").faces[0].emotion
    """

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        detector: str = "centerface",
        threshold: float = THRESHOLD,
        max_faces: int | None = None,
        margin: float = MARGIN,
        align: bool = True,
        tta: str | None = "flip",
        threads: int | None = None,
        readable_width: int = READABLE_WIDTH,
        **detector_options,
    ):
        """readable_width: faces narrower than this many pixels are found and counted but get no emotion."""
        self.classifier = OnnxClassifier(resolve_onnx(model), threads=threads)
        options = {"threads": threads} if detector == "centerface" else {}
        self.detector = load_detector(detector, threshold=threshold, **options, **detector_options)
        self.labels = self.classifier.labels
        self.max_faces, self.margin, self.align, self.tta = max_faces, margin, align, tta
        self.readable_width = readable_width

    @property
    def calibration(self) -> Calibration | None:
        """The model's calibration (None: it has none), which crowd summaries correct the shares with."""
        return self.classifier.calibration

    def analyze(self, source: ImageSource, path: str | None = None, **limits) -> ImageResult:
        """Every face in one image (a file path, encoded bytes or an RGB array)."""
        if path is None and isinstance(source, str | os.PathLike):
            path = str(source)
        return self.analyze_images([as_rgb(source)], [path], **limits)[0]

    def analyze_images(
        self,
        images: list[np.ndarray],
        paths: list[str | None],
        threshold: float | None = None,
        max_faces: int | None = None,
        still: bool = True,
    ) -> list[ImageResult]:
        """Detect in each RGB image, then classify the faces of all images in one batched call.

        `threshold` and `max_faces` override the analyzer's for this call; a threshold below the
        detector's own has no effect (NMS keeps the same boxes above any higher threshold). `still`: photos,
        not video frames, so the detector may take longer to find small faces.
        """
        if not images:  # a batch whose every file was unreadable
            return []
        limit = max_faces or self.max_faces
        per_image = [
            [d for d in self.detector.detect(image, still) if threshold is None or d.score >= threshold][:limit]
            for image in images
        ]
        size, channels = self.classifier.image_size, self.classifier.channels
        crops = [
            crop_faces(image, [d.box for d in found], size, channels, self.margin, self.eyes(found))
            for image, found in zip(images, per_image, strict=True)
        ]
        probs = self.classifier.predict(np.concatenate(crops), tta=self.tta)
        results, start = [], 0
        for image, path, found in zip(images, paths, per_image, strict=True):
            faces = [self.face(d, p) for d, p in zip(found, probs[start : start + len(found)], strict=True)]
            results.append(ImageResult(path, image.shape[1], image.shape[0], faces))
            start += len(found)
        return results

    def eyes(self, detections: list) -> list | None:
        return [d.eyes for d in detections] if self.align else None

    def face(self, detection: Detection, probs: np.ndarray) -> Face:
        scores = {label: round(float(p), 6) for label, p in zip(self.labels, probs, strict=True)}
        readable = detection.box[2] >= self.readable_width
        emotion = self.labels[int(probs.argmax())] if readable else None
        box = tuple(int(v) for v in detection.box)
        return Face(box, round(detection.score, 4), emotion, scores, facing=detection.facing())

    def analyze_sources(
        self, sources: Iterable[tuple[str, ImageSource]], batch_size: int = 16
    ) -> Iterator[tuple[ImageResult, np.ndarray | None]]:
        """(name, path or bytes) pairs to (result, decoded RGB image or None if unreadable), in order,
        decoding and classifying `batch_size` at a time; an unreadable one gets a result with `error` set."""
        for batch in in_batches(sources, batch_size):
            decoded = [(name, decode_or_error(source, name)) for name, source in batch]
            readable = [(name, image) for name, image in decoded if isinstance(image, np.ndarray)]
            results = iter(self.analyze_images([image for _, image in readable], [name for name, _ in readable]))
            for name, image in decoded:
                if isinstance(image, str):
                    yield ImageResult(name, 0, 0, error=image), None
                else:
                    yield next(results), image


def decode_or_error(source: ImageSource, name: str) -> np.ndarray | str:
    """The decoded RGB image, or why it cannot be read."""
    try:
        return as_rgb(source, name)
    except (ImageError, OSError) as e:
        return str(e)


def in_batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last one shorter), taken from `items` as they come."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
