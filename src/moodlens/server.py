"""`moodlens serve`: the REST API, the live WebSocket and the web page, on FastAPI.

Uploads and frames stay in memory: they are never written to disk or logged. Each photo or frame is
decoded, analysed and answered inside one bounded worker call, so that no decoded image waits in a queue.
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
from fastapi import APIRouter, FastAPI, File, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser

from .annotate import annotate
from .detection import THRESHOLD as DETECTION_THRESHOLD
from .imaging import ImageError, ImageTooLarge, read_image, sniff_format
from .limits import Admission, BodySizeLimit
from .onnx_classifier import WEIGHTS_DIR
from .pipeline import Analyzer
from .results import ImageResult
from .server_metrics import MetricsMiddleware, ServerMetrics
from .tracking import IouTracker

STATIC = resources.files("moodlens") / "static"
MIN_THRESHOLD = 0.2  # detectors run at this floor; requests choose any threshold above it
TRY_AGAIN_LATER = 1013  # WebSocket close code for a server at capacity


@dataclass
class ServerSettings:
    model: str = "default"
    max_upload_mb: float = 20.0
    max_pixels: int = 40_000_000
    threads: int = 2  # analysis worker threads (each ONNX session runs single-threaded)
    max_pending: int = 16  # requests and live frames running or waiting for a worker; more get 503
    max_batch_files: int = 16
    max_live: int = 8  # open /v1/live connections; more are closed with code 1013

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
    """Analyzers (one per model, loaded on first use), the bounded pool they run in, and admission."""

    def __init__(self, settings: ServerSettings, metrics: ServerMetrics):
        self.settings, self.metrics = settings, metrics
        self.pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="analyze")
        self.admission = Admission(settings.max_pending)
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
        still: bool = True,
    ) -> dict:
        """Decode, analyse and build the answer (with the annotated picture if `image`) in one worker call;
        `still`: an uploaded photo, not a live frame."""
        analyzer = self.analyzer(model)
        start = time.perf_counter()
        rgb = self.decode(data, name)
        decoded = time.perf_counter()
        result = analyzer.analyze_images([rgb], [None], threshold=threshold, max_faces=max_faces, still=still)[0]
        timing = {"decode": (decoded - start) * 1000, "analyze": (time.perf_counter() - decoded) * 1000}
        self.metrics.faces.inc(len(result.faces))
        return result_body(result, analyzer.labels, model, timing, rgb if image else None, blur)

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
        body["annotated_image"] = encode_jpeg(annotate(image, result.faces, labels, blur=blur))
    return body


Threshold = Annotated[float, Query(ge=MIN_THRESHOLD, le=1.0, description="detector confidence threshold")]
MaxFaces = Annotated[int, Query(ge=1, le=1000, description="keep at most this many faces, most confident first")]


def analysis_routes(settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    async def analyze_upload(engine: Engine, upload: UploadFile, model: str, threshold, max_faces, **drawing) -> dict:
        start = time.perf_counter()
        data, name = await upload.read(), upload.filename or "upload"
        body = await engine.run(engine.analyze, data, name, model, threshold, max_faces, **drawing)
        body["timing_ms"]["total"] = (time.perf_counter() - start) * 1000
        return body

    @router.post("/v1/analyze", summary="Every face in one photo, its emotion, and the crowd summary")
    async def analyze(
        request: Request,
        file: Annotated[UploadFile, File(description="a JPEG, PNG, WebP or BMP photo")],
        model: str = settings.model,
        threshold: Threshold = DETECTION_THRESHOLD,
        max_faces: MaxFaces = 100,
        annotated_image: bool = False,
        blur: bool = False,
    ) -> dict:
        engine: Engine = request.app.state.engine
        engine.analyzer(model)  # an unknown model is a 404 before any work
        return await engine.admitted(
            lambda: analyze_upload(engine, file, model, threshold, max_faces, image=annotated_image, blur=blur)
        )

    @router.post("/v1/analyze/batch", summary="Several photos in one request; a bad file gets its own error entry")
    async def analyze_batch(
        request: Request,
        files: Annotated[list[UploadFile], File(description="JPEG, PNG, WebP or BMP photos")],
        model: str = settings.model,
        threshold: Threshold = DETECTION_THRESHOLD,
        max_faces: MaxFaces = 100,
    ) -> dict:
        engine: Engine = request.app.state.engine
        if len(files) > settings.max_batch_files:
            raise ApiError(422, "too_many_files", f"at most {settings.max_batch_files} files per batch")
        engine.analyzer(model)

        async def each(upload: UploadFile) -> dict:
            try:
                body = await analyze_upload(engine, upload, model, threshold, max_faces)
                return {"filename": upload.filename, **body}
            except ApiError as e:
                engine.metrics.errors.labels(e.error).inc()
                return {"filename": upload.filename, "error": e.error, "detail": e.detail}

        async def all_files() -> dict:
            return {"results": [await each(upload) for upload in files]}

        return await engine.admitted(all_files)

    @router.get("/v1/models", summary="The shipped models and their labels")
    async def models(request: Request) -> dict:
        engine: Engine = request.app.state.engine
        return {
            "default": settings.model,
            "models": [{"name": name, "labels": engine.analyzer(name).labels} for name in shipped_models()],
            "detectors": ["centerface"],
        }

    return router


def service_routes(settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    @router.api_route("/healthz", methods=["GET", "HEAD"], summary="Liveness")
    async def healthz(request: Request) -> dict:
        return {"status": "ok", "pending": request.app.state.engine.admission.active, "capacity": settings.max_pending}

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_text(request: Request) -> Response:
        metrics: ServerMetrics = request.app.state.metrics
        return Response(metrics.render(), media_type=metrics.content_type)

    @router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    return router


def live_routes(settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    @router.websocket("/v1/live")
    async def live(socket: WebSocket, model: str = settings.model, threshold: float = DETECTION_THRESHOLD) -> None:
        """Webcam frames (JPEG bytes) in, one JSON result per frame out, with faces tracked across frames.
        Frames go through the same admission as uploads: past capacity a frame is answered `busy` and dropped."""
        engine: Engine = socket.app.state.engine
        await socket.accept()
        if engine.live_connections >= settings.max_live:
            await socket.close(code=TRY_AGAIN_LATER, reason=f"at most {settings.max_live} live connections")
            return
        try:
            engine.analyzer(model)
        except ApiError as e:
            await socket.close(code=1008, reason=e.detail)
            return
        engine.live_connections += 1
        try:
            await answer_frames(socket, engine, model, max(threshold, MIN_THRESHOLD))
        except WebSocketDisconnect:
            pass
        finally:
            engine.live_connections -= 1

    return router


async def answer_frames(socket: WebSocket, engine: Engine, model: str, threshold: float) -> None:
    tracker = IouTracker()
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is None:
            await socket.send_json({"error": "unsupported_frame", "detail": "send each frame as a binary JPEG message"})
            continue
        start = time.perf_counter()
        try:
            body = await engine.admitted(
                lambda data=message["bytes"]: engine.run(
                    engine.analyze, data, "frame", model, threshold, None, still=False
                )
            )
        except ApiError as e:
            await socket.send_json({"error": e.error, "detail": e.detail})
            continue
        boxes = [tuple(face["box"]) for face in body["faces"]]
        for face, track in zip(body["faces"], tracker.update(boxes), strict=True):
            face["track"] = track
        body["timing_ms"]["total"] = (time.perf_counter() - start) * 1000
        await socket.send_json(body)


def add_error_handlers(app: FastAPI) -> None:
    """Every error is JSON `{"error", "detail"}`, FastAPI's own 404, 405 and 422 too."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "invalid_request", "detail": problems}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse({"error": kind, "detail": str(exc.detail)}, exc.status_code, headers=exc.headers)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings.from_env()
    max_bytes = int(settings.max_upload_mb * 1024 * 1024)
    MultiPartParser.spool_max_size = max_bytes + 1  # keep uploaded files in memory: never spooled to disk
    # the API docs' scripts and styles ship in fastapi-offline's wheel: /docs and /redoc work offline
    app = FastAPIOffline(title="moodlens", version="0.1.0", description="Every face in a photo and its emotion.")
    app.state.metrics = ServerMetrics()
    app.state.engine = Engine(settings, app.state.metrics)
    add_error_handlers(app)
    for router in (analysis_routes(settings), service_routes(settings), live_routes(settings)):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: sees every answer
    return app
