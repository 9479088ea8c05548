"""A bounded load on `moodlens serve` on localhost: requests/s, latency percentiles and server memory.

    python benchmarks/serve_load.py [--seconds 30] [--clients 4] [--out benchmarks/results/serve_load.json]

Starts the real server on a free loopback port, then `--clients` concurrent clients post real photos
(a group selfie, a portrait, a couple) to /v1/analyze back to back for `--seconds`, and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHOTOS = [
    SHARED / "faces/deepface/selfie-many-people.jpg",
    sorted((SHARED / "muxspace/images").iterdir())[0],
    SHARED / "faces/dlib/2008_001322.jpg",
]


def memory_mb(pid: int) -> dict:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


async def client(url: str, deadline: float, photos: list[tuple[str, bytes]], latencies: list, statuses: list) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        i = 0
        while time.perf_counter() < deadline:
            name, data = photos[i % len(photos)]
            start = time.perf_counter()
            response = await http.post(f"{url}/v1/analyze", files={"file": (name, data, "image/jpeg")})
            latencies.append(time.perf_counter() - start)
            statuses.append(response.status_code)
            i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="the server's analysis threads")
    parser.add_argument("--out", default="benchmarks/results/serve_load.json")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moodlens", "serve", "--port", str(port), "--threads", str(args.threads)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        photos = [(p.name, p.read_bytes()) for p in PHOTOS]
        for name, data in photos:  # warm up every model path once
            httpx.post(f"{url}/v1/analyze", files={"file": (name, data, "image/jpeg")}, timeout=60)
        idle = memory_mb(server.pid)
        latencies: list[float] = []
        statuses: list[int] = []
        deadline = time.perf_counter() + args.seconds
        start = time.perf_counter()

        async def run() -> None:
            await asyncio.gather(*(client(url, deadline, photos, latencies, statuses) for _ in range(args.clients)))

        asyncio.run(run())
        elapsed = time.perf_counter() - start
        loaded = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = np.array(latencies) * 1000
    result = {
        "machine": f"{os.cpu_count()} cores",
        "seconds": elapsed,
        "clients": args.clients,
        "server_threads": args.threads,
        "photos": [p.name for p in PHOTOS],
        "requests": len(latencies),
        "requests_per_s": len(latencies) / elapsed,
        "status_counts": {str(code): statuses.count(code) for code in sorted(set(statuses))},
        "latency_ms": {
            "p50": float(np.percentile(ms, 50)),
            "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)),
        },
        "server_memory_mb": {"idle_rss": idle["VmRSS"], "rss_after_load": loaded["VmRSS"], "peak_rss": loaded["VmHWM"]},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
