"""`moodlens record`: watch a source, analyse a frame `fps` times a second, and store each one's aggregates.

Memory stays flat: one frame at a time, nothing kept but the database rows. A live source that drops is
reopened until it has been gone `reconnect` seconds; a recorder restarted under the same name carries on
(a video file from where it stopped). Ctrl-C stops it between two steps (a second Ctrl-C at once).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from moodlens.recording.options import RecordOptions
from moodlens.recording.sources import SourceError, SourceLost, frames, is_live
from moodlens.recording.store import Session, Step, Store, default_recorder
from moodlens.recording.timeline import session_calibration
from moodlens.runtime.calibration import Calibration
from moodlens.runtime.crowd import CrowdTally
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.results import ImageResult


def step_of(result: ImageResult, moment: float, labels: list[str], calibration: Calibration | None = None) -> Step:
    """What is kept of an analysed frame: counts and sums (with a calibration, of the faces' log-evidence
    under each kind of faces too), never a face or a box."""
    tally = CrowdTally(labels, calibration)
    tally.add(result.faces)
    facing = sum(1 for face in result.faces if face.facing)
    sums = {label: round(value, 4) for label, value in tally.sums.items()}
    evidence = {kind: round(value, 3) for kind, value in tally.evidence.items()}
    return Step(moment, tally.faces, tally.readable, facing, dict(tally.counts), sums, evidence)


@contextmanager
def stop_on_ctrl_c() -> Iterator[Callable[[], bool]]:
    """A flag that the first Ctrl-C raises (the second interrupts at once), for loops that stop between steps:
    a KeyboardInterrupt raised inside a database driver or a stream reader can leave it holding a lock."""
    requested = threading.Event()

    def on_sigint(signum, frame) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def record(
    store: Store,
    name: str,
    analyzer: Analyzer,
    source: str,
    options: RecordOptions,
    settings: dict,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Record `source` into session `name` until it ends, `options.duration` passes or `stop()` says so;
    returns the steps written. A session this call created is removed again if its source fails before
    giving a single step (no webcam, not a video), so that no empty session is left behind."""
    new = store.find(name) is None
    session = store.open_session(name, analyzer.labels, {**settings, "source": source, "fps": options.fps})
    try:
        return record_steps(store, session, analyzer, source, options, stop)
    except (SourceError, SourceLost):
        if new and store.step_count(session) == 0:
            store.delete(name)
        raise


def file_origin(store: Store, session: Session, recorder: str, options: RecordOptions) -> float:
    """Where a video file's first frame lies in the session (unix seconds): at `options.at`, else where this
    recorder's file started before (recorded again, it keeps its times), else right after the session's
    last step (a file that continues the event; a second camera of the same event gives --at 0)."""
    if options.at is not None:
        return session.created + options.at
    first, _ = store.span(session, recorder)
    if first is not None:
        return first
    _, last = store.span(session)
    return session.created if last is None else last + 1 / options.fps


def record_steps(
    store: Store, session: Session, analyzer: Analyzer, source: str, options: RecordOptions, stop: Callable[[], bool]
) -> int:
    recorder = options.recorder or default_recorder(source)
    calibration = session_calibration(session)  # the evidence its timeline is read with, as the live recorder
    deadline = time.time() + options.duration if options.duration else None
    origin = session.created if is_live(source) else file_origin(store, session, recorder, options)
    written, opened, lost_since = 0, False, None
    while True:
        last = store.span(session, recorder)[1]
        try:
            for moment, rgb in frames(source, options.fps, origin):
                opened, lost_since = True, None
                if last is not None and moment <= last:
                    continue  # a file recorder restarted: what it recorded before stays as it was
                result = analyzer.analyze_images([rgb], [source])[0]
                store.add_step(session, recorder, step_of(result, moment, analyzer.labels, calibration))
                written += 1
                if stop() or (deadline and time.time() >= deadline):
                    return written
            return written  # a video file's end
        except (SourceError, SourceLost) as e:
            if not (opened and is_live(source)):
                raise
            if stop():
                return written
            lost_since = lost_since or time.time()
            if time.time() - lost_since > options.reconnect or (deadline and time.time() >= deadline):
                raise SourceLost(f"{e}; gone for over {options.reconnect:g} s, recording stopped") from e
            print(f"moodlens: {e}; reconnecting", file=sys.stderr)
            time.sleep(1.0)
