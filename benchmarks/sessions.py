"""A simulated event recorded end to end: memory, database size, and how fast its timeline loads.

A video of HOURS at FPS frames a second is made from shared photos (a group photo, a couple, portraits and
a crowd, each held for HOLD seconds, so the mood moves), recorded by `moodlens record` into an SQLite file
while its memory is sampled; then the timeline is fetched from a real server and drawn by the page in
Chromium.

    python benchmarks/sessions.py --out benchmarks/results/sessions.json   # 2 hours at 2 frames/s
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
from paths import SHARED
from playwright.sync_api import sync_playwright
from serving import start_server

from moodlens.runtime.hardware import amx_supported
from moodlens.runtime.imaging import read_image

PHOTOS = [
    SHARED / "faces" / "deepface" / "selfie-many-people.jpg",
    SHARED / "faces" / "deepface" / "couple.jpg",
    *sorted((SHARED / "muxspace" / "images").iterdir())[:4],
    SHARED / "faces" / "dlib" / "bald_guys.jpg",
]


def event_video(path: Path, hours: float, fps: float, hold: float) -> int:
    """The photos in turn, each fitted into 640x480 and held for `hold` seconds; returns the frame count."""
    canvases = []
    for photo in PHOTOS:
        image = read_image(photo)
        scale = min(640 / image.shape[1], 480 / image.shape[0])
        resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = np.full((480, 640, 3), 90, np.uint8)
        top, left = (480 - resized.shape[0]) // 2, (640 - resized.shape[1]) // 2
        canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
        canvases.append(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    frames = round(hours * 3600 * fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for index in range(frames):
        writer.write(canvases[int(index / fps / hold) % len(canvases)])
    writer.release()
    return frames


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def record(video: Path, database: str, fps: float) -> dict:
    """`moodlens record` of the video, its resident memory sampled every second."""
    command = [sys.executable, "-m", "moodlens", "record", str(video), "--session", "event", "--fps", str(fps)]
    started = time.perf_counter()
    process = subprocess.Popen([*command, "--db", database], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []
    while process.poll() is None:
        try:
            samples.append((time.perf_counter() - started, rss_mb(process.pid)))
        except FileNotFoundError:
            break
        time.sleep(1)
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(err)
    seconds = time.perf_counter() - started
    tenth = [mb for t, mb in samples if t >= seconds / 10]
    return {
        "command": " ".join(command[1:]),
        "output": out.strip().splitlines()[-1],
        "seconds": round(seconds, 1),
        "rss_mb_at_a_tenth": round(tenth[0], 1) if tenth else None,
        "rss_mb_peak": round(max(mb for _, mb in samples), 1),
        "rss_mb_last": round(samples[-1][1], 1),
    }


def timeline_load(database: str, bucket: float) -> dict:
    """The timeline from a real server (best of 5) and the page drawing it in Chromium."""
    server, url = start_server("--db", database)
    try:
        api = []
        for _ in range(5):
            start = time.perf_counter()
            body = httpx.get(f"{url}/v1/sessions/event/timeline", params={"bucket": bucket}, timeout=60).json()
            api.append(time.perf_counter() - start)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(f"{url}/#session=event")
            page.wait_for_function("Number(document.body.dataset.sessionSteps || 0) > 0", timeout=60_000)
            page_seconds = time.perf_counter() - start
            browser.close()
    finally:
        server.terminate()
        server.wait()
    return {
        "bucket_s": bucket,
        "buckets": len(body["buckets"]),
        "api_seconds_best": round(min(api), 3),
        "api_seconds_all": [round(s, 3) for s in api],
        "page_seconds": round(page_seconds, 3),
        "markers": body["markers"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds each photo stays on screen")
    parser.add_argument("--out", default="benchmarks/results/sessions.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        video, db_file = Path(folder) / "event.mp4", Path(folder) / "sessions.sqlite"
        frames = event_video(video, args.hours, args.fps, args.hold)
        database = f"sqlite:///{db_file}"
        recorded = record(video, database, args.fps)
        size = sum(p.stat().st_size for p in Path(folder).glob("sessions.sqlite*"))
        loaded = timeline_load(database, 10.0)
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "amx": amx_supported(),
            "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "event": {"hours": args.hours, "fps": args.fps, "frames": frames, "photos": [p.name for p in PHOTOS]},
        "record": recorded,
        "database": {"bytes": size, "mb_per_hour": round(size / 1e6 / args.hours, 2)},
        "timeline": loaded,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
