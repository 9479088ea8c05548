"""Bounded loads on `moodlens serve` on localhost: latency, refusals and server memory, in three cases.

    python benchmarks/serve_load.py [--seconds 30] [--out benchmarks/results/serve_load.json]

Each case starts its own real server on a free loopback port (2 analysis threads, default limits):
- photos: 4 clients post real photos (a group selfie, a portrait, a couple) back to back;
- live: the same 4 HTTP clients while 64 webcam clients push frames over /v1/live without pause;
- large_images: 32 clients at once each post a small PNG that decodes to 39.9 megapixels.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
from paths import SHARED
from PIL import Image
from serving import start_server
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from moodlens.runtime import hardware

PHOTOS = [
    SHARED / "faces/deepface/selfie-many-people.jpg",
    sorted((SHARED / "muxspace/images").iterdir())[0],
    SHARED / "faces/dlib/2008_001322.jpg",
]


def memory_mb(pid: int) -> dict:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def started_server() -> tuple[subprocess.Popen, str]:
    server, url = start_server("--threads", "2")
    for photo in PHOTOS:  # warm up every model path once
        httpx.post(f"{url}/v1/analyze", files={"file": (photo.name, photo.read_bytes(), "image/jpeg")}, timeout=60)
    return server, url


async def http_client(url: str, deadline: float, latencies: list, statuses: list) -> None:
    photos = [(p.name, p.read_bytes()) for p in PHOTOS]
    async with httpx.AsyncClient(timeout=60) as http:
        i = 0
        while time.perf_counter() < deadline:
            name, data = photos[i % len(photos)]
            start = time.perf_counter()
            response = await http.post(f"{url}/v1/analyze", files={"file": (name, data, "image/jpeg")})
            latencies.append(time.perf_counter() - start)
            statuses.append(response.status_code)
            i += 1


async def live_client(url: str, deadline: float, tally: dict) -> None:
    frame = PHOTOS[0].read_bytes()
    try:
        async with connect(url.replace("http", "ws") + "/v1/live") as live:
            first = True
            while time.perf_counter() < deadline:
                await live.send(frame)
                answer = json.loads(await live.recv())
                tally["busy" if answer.get("error") == "busy" else "answered"] += 1
                tally["accepted"] += first  # a socket over --max-live is closed before any answer
                first = False
    except ConnectionClosed as closed:
        key = f"closed_{closed.rcvd.code if closed.rcvd else 'none'}"  # 1013: over --max-live
        tally[key] = tally.get(key, 0) + 1


def latency_summary(latencies: list[float], statuses: list[int], seconds: float) -> dict:
    ms = np.array(latencies) * 1000
    return {
        "seconds": seconds,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / seconds,
        "status_counts": {str(code): statuses.count(code) for code in sorted(set(statuses))},
        "latency_ms": {f"p{q}": float(np.percentile(ms, q)) for q in (50, 90, 99)},
    }


def http_under_load(seconds: float, live_clients: int) -> dict:
    server, url = started_server()
    try:
        idle = memory_mb(server.pid)
        latencies, statuses, tally = [], [], {"accepted": 0, "answered": 0, "busy": 0}
        start = time.perf_counter()
        deadline = start + seconds

        async def run() -> None:
            http = [http_client(url, deadline, latencies, statuses) for _ in range(4)]
            live = [live_client(url, deadline, tally) for _ in range(live_clients)]
            await asyncio.gather(*http, *live)

        asyncio.run(run())
        elapsed = time.perf_counter() - start
        loaded = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {"http_clients": 4, "live_clients": live_clients, **latency_summary(latencies, statuses, elapsed)}
    if live_clients:
        result["live"] = tally
    result["server_memory_mb"] = {"idle_rss": idle["VmRSS"], "rss_after": loaded["VmRSS"], "peak_rss": loaded["VmHWM"]}
    return result


def large_images(clients: int = 32, side: int = 6316) -> dict:
    png = io.BytesIO()
    Image.new("L", (side, side)).save(png, "PNG")
    server, url = started_server()
    try:
        idle = memory_mb(server.pid)

        async def run() -> list[int]:
            async with httpx.AsyncClient(timeout=120) as http:
                files = {"file": ("large.png", png.getvalue(), "image/png")}
                responses = await asyncio.gather(*(http.post(f"{url}/v1/analyze", files=files) for _ in range(clients)))
            return [r.status_code for r in responses]

        start = time.perf_counter()
        statuses = asyncio.run(run())
        elapsed = time.perf_counter() - start
        time.sleep(1)
        after = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "clients": clients,
        "megapixels": side * side / 1e6,
        "png_bytes": len(png.getvalue()),
        "seconds": elapsed,
        "status_counts": {str(code): statuses.count(code) for code in sorted(set(statuses))},
        "server_memory_mb": {"idle_rss": idle["VmRSS"], "rss_after": after["VmRSS"], "peak_rss": after["VmHWM"]},
    }


def cpu_flags() -> dict:
    return {flag: flag in hardware.cpu_flags() for flag in ("amx_bf16", "avx512_bf16", "avx512f")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--out", default="benchmarks/results/serve_load.json")
    args = parser.parse_args()
    result = {
        "machine": {"cores": os.cpu_count(), **cpu_flags()},
        "server": "moodlens serve --threads 2 (default --max-pending 16, --max-live 8, 40-megapixel limit)",
        "photos": [p.name for p in PHOTOS],
        "cases": {
            "photos": http_under_load(args.seconds, live_clients=0),
            "live": http_under_load(args.seconds, live_clients=64),
            "large_images": large_images(),
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
