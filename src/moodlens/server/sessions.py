"""Recorded sessions in the REST API: create, list, a live timeline, export, delete; and recording live frames.

The routes are plain functions, so FastAPI runs them in its thread pool: a long timeline never holds up
the event loop. The database opens on first use (`settings.database`, else moodlens's default).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field

from moodlens.recording.export import FORMATS, export_bytes
from moodlens.recording.options import BUCKET
from moodlens.recording.recorder import step_of
from moodlens.recording.store import (
    SESSION_NAME_RULE,
    NoSuchSession,
    Session,
    SessionConflict,
    Store,
    StoreError,
    check_session_name,
)
from moodlens.recording.timeline import RunningTimeline, session_calibration, session_settings, timeline
from moodlens.runtime.results import ImageResult
from moodlens.server.engine import ApiError
from moodlens.server.schemas import Timeline
from moodlens.server.settings import ServerSettings

Bucket = Annotated[float, Query(gt=0, le=86_400, description="bucket length in seconds")]


def valid_session_name(name: str) -> str:
    """The sessions' one rule, as a validation error (422) for pydantic."""
    try:
        return check_session_name(name)
    except StoreError as e:
        raise ValueError(str(e)) from None


SessionName = Annotated[str, AfterValidator(valid_session_name)]

_open_lock = threading.Lock()


class NewSession(BaseModel):
    name: SessionName = Field(description=f"the session's name: {SESSION_NAME_RULE}")


def session_store(request_app) -> Store:
    """The app's store, opened once."""
    with _open_lock:
        if getattr(request_app.state, "store", None) is None:
            settings: ServerSettings = request_app.state.settings
            try:
                request_app.state.store = Store(settings.database or None)
            except StoreError as e:
                raise ApiError(503, "no_database", str(e)) from e
    return request_app.state.store


def find_session(store: Store, name: str) -> Session:
    try:
        return store.get(name)
    except NoSuchSession as e:
        raise ApiError(404, "unknown_session", str(e)) from e


class Timelines:
    """The timelines pages keep asking for, each brought up to date with the steps written since it was last
    read (RunningTimeline), the least recently read dropped beyond `kept`."""

    def __init__(self, kept: int = 16):
        self.kept = kept
        self.lock = threading.Lock()
        self.lines: OrderedDict[tuple, tuple[RunningTimeline, threading.Lock]] = OrderedDict()

    def read(self, store: Store, session: Session, bucket: float, since: float | None) -> dict:
        key = (store.url, session.id, session.created, bucket)  # a session deleted and made again is another
        with self.lock:
            line, lock = self.lines.pop(key, None) or (RunningTimeline(session, bucket), threading.Lock())
            self.lines[key] = line, lock
            while len(self.lines) > self.kept:
                self.lines.popitem(last=False)
        with lock:  # two requests for one timeline must not both add the same new steps
            return line.add_new(store.steps_after(session, line.last_id)).read(since)


def session_routes(settings: ServerSettings) -> APIRouter:
    router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
    timelines = Timelines()

    @router.get("", summary="The recorded sessions, with their step counts and first and last times")
    def sessions(request: Request) -> dict:
        return {"sessions": session_store(request.app).summaries()}

    @router.post("", status_code=201, summary="Create a session (recording into an existing name continues it)")
    def create(request: Request, new: NewSession) -> dict:
        analyzer = request.app.state.engine.analyzer(settings.model)
        try:
            recorded_with = session_settings(settings.model, analyzer.calibration)
            session = session_store(request.app).open_session(new.name, analyzer.labels, recorded_with)
        except SessionConflict as e:
            raise ApiError(409, "session_conflict", str(e)) from e
        return {"name": session.name, "created": session.created, "labels": session.labels}

    @router.get(
        "/{name}/timeline",
        summary="The session's timeline in buckets, and its moments to look at",
        response_model=Timeline,
    )
    def session_timeline(request: Request, name: str, bucket: Bucket = BUCKET, since: float | None = None) -> dict:
        store = session_store(request.app)
        return timelines.read(store, find_session(store, name), bucket, since)

    @router.get("/{name}/export", summary="The timeline as a CSV or Parquet file", response_class=Response)
    def export(request: Request, name: str, format: Literal["csv", "parquet"] = "csv", bucket: Bucket = BUCKET):
        store = session_store(request.app)
        session = find_session(store, name)
        content = export_bytes(timeline(session, store.read_steps(session), bucket), format)
        disposition = attachment(f"{session.name}.{format}")
        return Response(content, media_type=FORMATS[format], headers={"Content-Disposition": disposition})

    @router.delete("/{name}", status_code=204, summary="Delete a session and everything recorded into it")
    def delete(request: Request, name: str) -> Response:
        store = session_store(request.app)
        try:
            store.delete(name)
        except NoSuchSession as e:
            raise ApiError(404, "unknown_session", str(e)) from e
        return Response(status_code=204)

    return router


def attachment(filename: str) -> str:
    """A Content-Disposition for any name: an ASCII fallback, and the name itself as RFC 5987 UTF-8."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class LiveRecorder:
    """Records a live connection's frames into a session, at most `fps` a second, from the analysis worker.
    A write that fails (the session deleted, the disk full) stops the recording, not the analysis: `failure`
    says why, for the connection to tell its client once."""

    def __init__(self, store: Store, session: Session, recorder: str, fps: float):
        self.store, self.session, self.recorder = store, session, recorder
        self.calibration = session_calibration(session)
        self.interval, self.next_time = 1 / fps, 0.0
        self.failure: str | None = None

    def __call__(self, result: ImageResult) -> None:
        now = time.time()
        if self.failure is None and now >= self.next_time:
            self.next_time = now + self.interval
            try:
                step = step_of(result, round(now, 3), self.session.labels, self.calibration)
                self.store.add_step(self.session, self.recorder, step)
            except StoreError as e:
                self.failure = str(e)
