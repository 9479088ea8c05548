"""How fast a long session's timeline loads: a 4-hour event seen by 4 cameras at 2 frames a second (115,200
steps), read through a real server as the page reads it.

    python benchmarks/timeline_speed.py --out benchmarks/results/timeline_speed.json

The steps are the aggregates of real analyses (the shared group photos, portraits and crowd, each analysed
once by the default model), one after another, written straight into an SQLite file (recording 4 hours
would take 4 hours); the session keeps the default model's calibration, so its shares are corrected as a
recorded one's are. Times the timeline in 10 s and 60 s buckets from the API: the first request (the
server reads the whole session) and, best of --repeats, a refresh after another second of steps (the
server adds only those); and in-process, from scratch, with the database read apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import httpx
from paths import SHARED
from serving import start_server
from timing import run_times

from moodlens import Analyzer
from moodlens.recording.recorder import step_of
from moodlens.recording.store import Store, steps_table
from moodlens.recording.timeline import session_settings, timeline
from moodlens.runtime.hardware import cpu_field, cpu_flags

PHOTOS = [
    SHARED / "faces" / "deepface" / "selfie-many-people.jpg",
    SHARED / "faces" / "deepface" / "couple.jpg",
    *sorted((SHARED / "muxspace" / "images").iterdir())[:4],
    SHARED / "faces" / "dlib" / "bald_guys.jpg",
]


def fill(database: str, hours: float, cameras: int, fps: float) -> int:
    """A session of `cameras` recorders over `hours`, each step a real photo's aggregates, held 30 s each."""
    analyzer = Analyzer(threads=2)
    results = [analyzer.analyze(photo) for photo in PHOTOS]
    store = Store(database)
    session = store.open_session("event", analyzer.labels, session_settings("default", analyzer.calibration))
    rows = []
    for camera in range(cameras):
        for index in range(int(hours * 3600 * fps)):
            moment = session.created + index / fps + camera * 0.01
            step = step_of(results[(index // int(30 * fps) + camera) % len(results)], moment, analyzer.labels)
            rows.append({"session_id": session.id, "recorder": f"camera{camera}", **vars(step)})
    with store.engine.begin() as db:
        db.execute(steps_table.insert(), rows)
    return len(rows)


def more_steps(store: Store, session, cameras: int, fps: float) -> None:
    """One more second of the event from every camera (a copy of the last step, a second later)."""
    last = {}
    for recorder, step in store.read_steps(session, since=store.span(session)[1] - 1):
        last[recorder] = step
    for recorder, step in last.items():
        for k in range(int(fps)):
            store.add_step(session, recorder, dataclasses.replace(step, time=step.time + (k + 1) / fps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    database = f"sqlite:///{folder / 'sessions.sqlite'}"
    result = {"steps": fill(database, args.hours, args.cameras, args.fps), "hours": args.hours, "cameras": args.cameras}
    store = Store(database)
    session = store.get("event")
    steps = list(store.read_steps(session))
    result["in_process"] = {
        "read_steps_s": round(min(run_times(lambda: list(store.read_steps(session)), args.repeats)), 3),
        "timeline_10s_buckets_s": round(min(run_times(lambda: timeline(session, iter(steps), 10.0), args.repeats)), 3),
    }
    server, url = start_server("--db", database)
    try:
        for bucket in (10, 60):

            def get(bucket: int = bucket) -> httpx.Response:
                return httpx.get(f"{url}/v1/sessions/event/timeline", params={"bucket": bucket}, timeout=300)

            first = round(run_times(get, 1, warm_up=False)[0], 3)  # the server reads the whole session once
            refreshes = []
            for _ in range(args.repeats):  # then a second of the event later, as the page asks again
                more_steps(store, session, args.cameras, args.fps)
                refreshes.append(round(run_times(get, 1, warm_up=False)[0], 3))
            result[f"api_{bucket}s_buckets"] = {
                "buckets": len(get().json()["buckets"]),
                "first_request_s": first,
                "refresh_after_a_second_of_steps_s": min(refreshes),
            }
    finally:
        server.terminate()
    result["machine"] = {"cpu": cpu_field("model name"), "avx512f": "avx512f" in cpu_flags()}
    result["command"] = (
        f"python benchmarks/timeline_speed.py --hours {args.hours:g} --cameras {args.cameras} --out {args.out}"
    )
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
