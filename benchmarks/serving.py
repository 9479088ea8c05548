"""A real `moodlens serve` for the benchmarks that measure it, on a free localhost port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def start_server(*options: str) -> tuple[subprocess.Popen, str]:
    """The server process and its URL, once /healthz answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "moodlens", "serve", "--port", str(port), *options]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/healthz")
            return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start within a minute")
