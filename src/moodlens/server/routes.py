"""The routes: photo analysis, the live webcam WebSocket, and the service routes (page, health, metrics).

Routes find the engine and metrics on `app.state`; they hold no state of their own.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response

from moodlens.recording.store import StoreError, check_session_name
from moodlens.recording.timeline import session_settings
from moodlens.runtime.annotate import COLORS, UNREADABLE
from moodlens.runtime.detection import THRESHOLD as DETECTION_THRESHOLD
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.tracking import IouTracker
from moodlens.runtime.weights import shipped_models
from moodlens.server.engine import ApiError, Engine
from moodlens.server.metrics import ServerMetrics
from moodlens.server.schemas import Analysis, Batch
from moodlens.server.sessions import LiveRecorder, session_store
from moodlens.server.settings import MIN_THRESHOLD, ServerSettings

STATIC = resources.files("moodlens.server") / "static"
TRY_AGAIN_LATER = 1013  # WebSocket close code for a server at capacity


Threshold = Annotated[float, Query(ge=MIN_THRESHOLD, le=1.0, description="detector confidence threshold")]
MaxFaces = Annotated[int, Query(ge=1, le=1000, description="keep at most this many faces, most confident first")]
LabelLine = Annotated[
    int,
    Query(
        ge=8,
        le=1000,
        description="height of the faces' number and label boxes, in pixels of the picture "
        "(default: 1/70 of its longer side, as on the annotated image)",
    ),
]


def analysis_routes(settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    async def analyze_upload(engine: Engine, upload: UploadFile, model: str, threshold, max_faces, **drawing) -> dict:
        start = time.perf_counter()
        data, name = await upload.read(), upload.filename or "upload"
        body = await engine.run(engine.analyze, data, name, model, threshold, max_faces, **drawing)
        body["timing_ms"]["total"] = (time.perf_counter() - start) * 1000
        return body

    @router.post(
        "/v1/analyze",
        summary="Every face in one photo, its emotion, and the crowd summary",
        response_model=Analysis,
        response_model_exclude_unset=True,
    )
    async def analyze(
        request: Request,
        file: Annotated[UploadFile, File(description="a JPEG, PNG, WebP or BMP photo")],
        model: str = settings.model,
        threshold: Threshold = DETECTION_THRESHOLD,
        max_faces: MaxFaces | None = None,
        annotated_image: bool = False,
        blur: bool = False,
        label_line: LabelLine | None = None,
    ) -> dict:
        engine: Engine = request.app.state.engine
        engine.analyzer(model)  # an unknown model is a 404 before any work
        drawing = {"image": annotated_image, "blur": blur, "label_line": label_line}
        return await engine.admitted(lambda: analyze_upload(engine, file, model, threshold, max_faces, **drawing))

    @router.post(
        "/v1/analyze/batch",
        summary="Several photos in one request; a bad file gets its own error entry",
        response_model=Batch,
        response_model_exclude_unset=True,
    )
    async def analyze_batch(
        request: Request,
        files: Annotated[list[UploadFile], File(description="JPEG, PNG, WebP or BMP photos")],
        model: str = settings.model,
        threshold: Threshold = DETECTION_THRESHOLD,
        max_faces: MaxFaces | None = None,
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
            "colors": {label: hex_color(rgb) for label, rgb in COLORS.items()},
            "unreadable_color": hex_color(UNREADABLE),
        }

    return router


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def service_routes(settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", summary="Liveness")
    async def healthz(request: Request) -> dict:
        return {"status": "ok", "pending": request.app.state.engine.admission.active, "capacity": settings.max_pending}

    # HEAD too, for load balancers; one route per method keeps the OpenAPI operation ids unique
    router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)

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
    async def live(
        socket: WebSocket,
        model: str = settings.model,
        threshold: float = DETECTION_THRESHOLD,
        session: str = "",
        recorder: str = "",
        label_line: LabelLine | None = None,
    ) -> None:
        """Webcam frames (JPEG bytes) in, one JSON result per frame out, with faces tracked across frames; with
        `session`, the frames' aggregates are also recorded into that session (at most `record_fps` a second),
        as `recorder`: a camera that reconnects under the same name is the same people, not more (default: the
        client's address). Frames go through the same admission as uploads: past capacity a frame is answered
        `busy` and dropped. A recording that fails is said once (`recording_stopped`); frames go on."""
        engine: Engine = socket.app.state.engine
        await socket.accept()
        if engine.live_connections >= settings.max_live:
            await socket.close(code=TRY_AGAIN_LATER, reason=f"at most {settings.max_live} live connections")
            return
        if not MIN_THRESHOLD <= threshold <= 1:  # NaN too
            await socket.close(code=1008, reason=f"threshold must be from {MIN_THRESHOLD} to 1")
            return
        try:
            recording = live_recorder(socket, engine.analyzer(model), session, recorder, model) if session else None
        except (ApiError, StoreError) as e:
            await socket.close(code=1008, reason=getattr(e, "detail", str(e))[:120])
            return
        engine.live_connections += 1
        try:
            await answer_frames(socket, engine, model, threshold, label_line, recording)
        except WebSocketDisconnect:
            pass
        finally:
            engine.live_connections -= 1

    return router


def live_recorder(socket: WebSocket, analyzer: Analyzer, name: str, recorder: str, model: str) -> LiveRecorder:
    """A recorder of this connection's frames into session `name` (created if new), as `recorder` or else
    the client's address."""
    settings: ServerSettings = socket.app.state.settings
    check_session_name(name)
    check_session_name(recorder or "live")  # a recorder's name follows the sessions' rule
    store = session_store(socket.app)
    recorded_with = session_settings(model, analyzer.calibration, source="live", fps=settings.record_fps)
    session = store.open_session(name, analyzer.labels, recorded_with)
    client = socket.client.host if socket.client else "unknown"
    return LiveRecorder(store, session, f"live:{recorder or client}", settings.record_fps)


async def answer_frames(
    socket: WebSocket,
    engine: Engine,
    model: str,
    threshold: float,
    label_line: int | None,
    recorder: LiveRecorder | None,
) -> None:
    tracker, told = IouTracker(), False
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
                    engine.analyze,
                    data,
                    "frame",
                    model,
                    threshold,
                    None,
                    label_line=label_line,
                    tracker=tracker,
                    on_result=recorder,
                )
            )
        except ApiError as e:
            await socket.send_json({"error": e.error, "detail": e.detail})
            continue
        body["timing_ms"]["total"] = (time.perf_counter() - start) * 1000
        await socket.send_json(body)
        if recorder and recorder.failure and not told:
            await socket.send_json({"error": "recording_stopped", "detail": recorder.failure})
            told = True
