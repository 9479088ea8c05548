"""`moodlens serve`: the REST API, the live WebSocket and the web page, on FastAPI.

Uploads and frames stay in memory: they are never written to disk or logged.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from importlib import resources
from typing import Annotated

import cv2
import numpy as np
from fastapi import FastAPI, File, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.formparsers import MultiPartParser

from .annotate import annotate
from .imaging import ImageError, ImageTooLarge, read_image
from .limits import Admission, BodySizeLimit
from .onnx_classifier import WEIGHTS_DIR
from .pipeline import Analyzer
from .results import ImageResult
from .server_metrics import ServerMetrics
from .tracking import IouTracker

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/x-ms-bmp"}
MIN_THRESHOLD = 0.2  # detectors run at this floor; requests choose any threshold above it


@dataclass
class ServerSettings:
    model: str = "default"
    max_upload_mb: float = 20.0
    max_pixels: int = 40_000_000
    threads: int = 2  # analysis worker threads (each ONNX session runs single-threaded)
    max_pending: int = 16  # requests running or waiting for a worker; more get 503
    max_batch_files: int = 16

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Settings from MOODLENS_<FIELD> variables, so every uvicorn worker process gets them."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"MOODLENS_{f.name.upper()}")
            if raw is not None:
                values[f.name] = type(getattr(cls, f.name))(raw)
        return cls(**values)


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict | None = None):
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def shipped_models() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.onnx"))


class Engine:
    """Analyzers (one per model, loaded on first use) and the bounded pool they run in."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="analyze")
        self.admission = Admission(settings.max_pending)
        self.analyzers: dict[str, Analyzer] = {}

    def analyzer(self, model: str) -> Analyzer:
        if model not in shipped_models():
            raise ApiError(404, "unknown_model", f"no model {model!r}; choose from {', '.join(shipped_models())}")
        if model not in self.analyzers:
            self.analyzers[model] = Analyzer(model, threshold=MIN_THRESHOLD, threads=1)
        return self.analyzers[model]

    def decode(self, data: bytes, name: str) -> np.ndarray:
        try:
            return read_image(data, max_pixels=self.settings.max_pixels, name=name)
        except ImageTooLarge as e:
            raise ApiError(413, "image_too_large", str(e)) from e
        except ImageError as e:
            raise ApiError(422, "unreadable_image", str(e)) from e

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)


def check_type(upload: UploadFile) -> None:
    if upload.content_type not in IMAGE_TYPES:
        raise ApiError(
            415, "unsupported_type", f"{upload.filename}: {upload.content_type} is not JPEG, PNG, WebP or BMP"
        )


def encode_jpeg(rgb: np.ndarray) -> str:
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()


def result_body(result: ImageResult, labels: list[str], model: str, timing: dict, image=None, blur=False) -> dict:
    body = {
        "model": model,
        "width": result.width,
        "height": result.height,
        "timing_ms": timing,
        "faces": [face.to_dict() for face in result.faces],
        "summary": result.summary(labels),
    }
    if image is not None:
        body["annotated_image"] = encode_jpeg(annotate(image, result.faces, blur=blur))
    return body


Threshold = Annotated[float, Query(ge=MIN_THRESHOLD, le=1.0, description="detector confidence threshold")]
MaxFaces = Annotated[int, Query(ge=1, le=1000, description="keep at most this many faces, most confident first")]


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings.from_env()
    max_bytes = int(settings.max_upload_mb * 1024 * 1024)
    MultiPartParser.spool_max_size = max_bytes + 1  # keep uploaded files in memory: never spooled to disk
    engine, metrics = Engine(settings), ServerMetrics()
    app = FastAPI(title="moodlens", version="0.1.0", description="Every face in a photo and its emotion.")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        metrics.errors.labels(exc.error).inc()
        return JSONResponse({"error": exc.error, "detail": exc.detail}, exc.status, headers=exc.headers)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = route.path if route else "unmatched"
        metrics.requests.labels(path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - start)
        return response

    async def admitted(work):
        if not engine.admission.try_enter():
            raise ApiError(503, "busy", "the server is at capacity; retry shortly", {"Retry-After": "1"})
        try:
            return await work
        finally:
            engine.admission.leave()

    async def analyze_upload(upload: UploadFile, model: str, threshold: float, max_faces: int, image: bool, blur: bool):
        check_type(upload)
        analyzer = engine.analyzer(model)
        data = await upload.read()
        start = time.perf_counter()

        def work():
            rgb = engine.decode(data, upload.filename or "upload")
            decoded = time.perf_counter()
            result = analyzer.analyze_images([rgb], [None], threshold=threshold, max_faces=max_faces)[0]
            return rgb, result, {"decode": (decoded - start) * 1000, "analyze": (time.perf_counter() - decoded) * 1000}

        rgb, result, timing = await engine.run(work)
        metrics.faces.inc(len(result.faces))
        body = await engine.run(result_body, result, analyzer.labels, model, timing, rgb if image else None, blur)
        body["timing_ms"]["total"] = (time.perf_counter() - start) * 1000
        return body

    @app.post("/v1/analyze", summary="Every face in one photo, its emotion, and the crowd summary")
    async def analyze(
        file: Annotated[UploadFile, File(description="a JPEG, PNG, WebP or BMP photo")],
        model: str = settings.model,
        threshold: Threshold = 0.5,
        max_faces: MaxFaces = 100,
        annotated_image: bool = False,
        blur: bool = False,
    ) -> dict:
        return await admitted(analyze_upload(file, model, threshold, max_faces, annotated_image, blur))

    @app.post("/v1/analyze/batch", summary="Several photos in one request; a bad file gets its own error entry")
    async def analyze_batch(
        files: Annotated[list[UploadFile], File(description="JPEG, PNG, WebP or BMP photos")],
        model: str = settings.model,
        threshold: Threshold = 0.5,
        max_faces: MaxFaces = 100,
    ) -> dict:
        if len(files) > settings.max_batch_files:
            raise ApiError(422, "too_many_files", f"at most {settings.max_batch_files} files per batch")

        async def each(upload: UploadFile) -> dict:
            try:
                return {
                    "filename": upload.filename,
                    **await analyze_upload(upload, model, threshold, max_faces, False, False),
                }
            except ApiError as e:
                if e.error == "unknown_model":
                    raise
                metrics.errors.labels(e.error).inc()
                return {"filename": upload.filename, "error": e.error, "detail": e.detail}

        async def all_files():
            return {"results": [await each(upload) for upload in files]}

        return await admitted(all_files())

    @app.get("/v1/models", summary="The shipped models and their labels")
    async def models() -> dict:
        return {
            "default": settings.model,
            "models": [{"name": name, "labels": engine.analyzer(name).labels} for name in shipped_models()],
            "detectors": ["centerface"],
        }

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict:
        return {"status": "ok", "pending": engine.admission.active, "capacity": settings.max_pending}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_text() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.websocket("/v1/live")
    async def live(socket: WebSocket, model: str = settings.model, threshold: float = 0.5) -> None:
        """Webcam frames (JPEG bytes) in, one JSON result per frame out, with faces tracked across frames."""
        await socket.accept()
        try:
            analyzer = engine.analyzer(model)
        except ApiError as e:
            await socket.close(code=1008, reason=e.detail)
            return
        tracker = IouTracker()
        try:
            while True:
                data = await socket.receive_bytes()
                start = time.perf_counter()
                try:
                    rgb = await engine.run(engine.decode, data, "frame")
                except ApiError as e:
                    await socket.send_json({"error": e.error, "detail": e.detail})
                    continue
                result = (await engine.run(analyzer.analyze_images, [rgb], [None], max(threshold, MIN_THRESHOLD)))[0]
                for face, track in zip(result.faces, tracker.update([f.box for f in result.faces]), strict=True):
                    face.track = track
                metrics.faces.inc(len(result.faces))
                timing = {"total": (time.perf_counter() - start) * 1000}
                await socket.send_json(result_body(result, analyzer.labels, model, timing))
        except WebSocketDisconnect:
            return

    app.mount("/", StaticFiles(directory=str(resources.files("moodlens") / "static"), html=True), name="page")
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)
    return app
