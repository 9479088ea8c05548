"""The server's analysis engine: analyzers per model, the bounded worker pool, admission, and answers.

Each photo or frame is decoded, analysed and answered inside one worker call, so that no decoded image
waits in a queue; past `max_pending` requests the answer is 503 at once.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from moodlens.runtime.annotate import Style, annotate, badge, label_text, layout
from moodlens.runtime.crowd import crowd_summary
from moodlens.runtime.imaging import ImageError, ImageTooLarge, image_pixels, read_image, sniff_format
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.results import ImageResult
from moodlens.runtime.tracking import IouTracker
from moodlens.runtime.weights import shipped_models
from moodlens.server.limits import Admission, PixelBudget
from moodlens.server.metrics import ServerMetrics
from moodlens.server.settings import MIN_THRESHOLD, ServerSettings


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict | None = None):
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


class Engine:
    """Analyzers (one per model, loaded on first use), the bounded pool they run in, and admission."""

    def __init__(self, settings: ServerSettings, metrics: ServerMetrics):
        self.settings, self.metrics = settings, metrics
        self.pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="analyze")
        self.admission = Admission(settings.max_pending)
        self.pixels = PixelBudget(settings.max_pixels)
        self.live_connections = 0
        self.analyzers: dict[str, Analyzer] = {}

    def analyzer(self, model: str) -> Analyzer:
        if model not in shipped_models():
            raise ApiError(404, "unknown_model", f"no model {model!r}; choose from {', '.join(shipped_models())}")
        if model not in self.analyzers:
            self.analyzers[model] = Analyzer(model, threshold=MIN_THRESHOLD, threads=1)
        return self.analyzers[model]

    def decode(self, data: bytes, name: str) -> np.ndarray:
        """The image in `data`, judged by its bytes, not by the type the client declared."""
        if sniff_format(data) is None:
            raise ApiError(415, "unsupported_type", f"{name}: not a JPEG, PNG, WebP or BMP file")
        try:
            return read_image(data, max_pixels=self.settings.max_pixels, name=name)
        except ImageTooLarge as e:
            raise ApiError(413, "image_too_large", str(e)) from e
        except ImageError as e:
            raise ApiError(422, "unreadable_image", str(e)) from e

    def analyze(
        self,
        data: bytes,
        name: str,
        model: str,
        threshold: float,
        max_faces: int | None,
        image: bool = False,
        blur: bool = False,
        label_line: int | None = None,
        tracker: IouTracker | None = None,
        on_result: Callable[[ImageResult], None] | None = None,
    ) -> dict:
        """Decode, analyse and build the answer (with the annotated picture if `image`) in one worker call.
        A live frame comes with its connection's `tracker`, which gives its faces their track ids; a photo
        without one, and the detector may take longer over it (a still). `on_result` sees the result in the
        worker (a session recorder). Each face comes with where the page draws its number and label, for text
        lines `label_line` px tall in the picture (default: as the annotated picture has them)."""
        analyzer = self.analyzer(model)
        start = time.perf_counter()
        with self.pixels.hold(image_pixels(data)):
            rgb = self.decode(data, name)
            decoded = time.perf_counter()
            still = tracker is None
            result = analyzer.analyze_images([rgb], [None], threshold=threshold, max_faces=max_faces, still=still)[0]
        if tracker:
            tracker.assign(result.faces)
        if on_result:
            on_result(result)
        timing = {"decode": (decoded - start) * 1000, "analyze": (time.perf_counter() - decoded) * 1000}
        self.metrics.faces.inc(len(result.faces))
        return result_body(result, analyzer, model, timing, label_line, rgb if image else None, blur)

    async def run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn(*args, **kwargs))

    async def admitted(self, work):
        """Await `work()` if there is room, else 503: nothing queues beyond `max_pending`."""
        if not self.admission.try_enter():
            raise ApiError(503, "busy", "the server is at capacity; retry shortly", {"Retry-After": "1"})
        try:
            return await work()
        finally:
            self.admission.leave()


def encode_jpeg(rgb: np.ndarray) -> str:
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()


def face_bodies(result: ImageResult, label_line: int | None) -> list[dict]:
    """Each face with its `number` and `label` (text and rectangle, in pixels of the picture) as `layout`
    places them, without probability bars (the page lists those)."""
    style = Style.for_line(label_line) if label_line else Style.for_image(result.width, result.height)
    placements = layout(result.faces, result.width, result.height, style, bars=False)
    bodies = []
    for i, (face, place) in enumerate(zip(result.faces, placements, strict=True)):
        body = face.to_dict() | {"number": mark(place.number, badge(face, i))}
        if place.label:
            body["label"] = mark(place.label, label_text(face)) | {"covers": place.label_covers}
        bodies.append(body)
    return bodies


def mark(rect: tuple, text: str) -> dict:
    return dict(zip("xywh", (int(v) for v in rect), strict=True)) | {"text": text}


def result_body(
    result: ImageResult, analyzer: Analyzer, model: str, timing: dict, label_line: int | None, image=None, blur=False
) -> dict:
    summary = crowd_summary(result.faces, analyzer.labels, analyzer.calibration)
    body = {
        "model": model,
        "width": result.width,
        "height": result.height,
        "timing_ms": timing,
        "faces": face_bodies(result, label_line),
        "summary": summary.to_dict(),
    }
    if image is not None:
        body["annotated_image"] = encode_jpeg(annotate(image, result.faces, summary, blur=blur))
    return body
