"""The server's Prometheus metrics, and the outermost middleware that counts every answer.

With `moodlens serve --workers N` the processes share their counts through prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by the CLI), so every scrape shows the whole server.
"""

from __future__ import annotations

import json
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # in multiprocess mode the values live in files, and a scrape collects them from every process
        own = None if self.multiprocess else CollectorRegistry()
        self.registry = own
        self.requests = Counter(
            "moodlens_requests", "HTTP requests by route and status", ["route", "status"], registry=own
        )
        self.latency = Histogram(
            "moodlens_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=own,
        )
        self.faces = Counter("moodlens_faces_analysed", "faces found and classified", registry=own)
        self.errors = Counter("moodlens_errors", "requests refused or failed, by kind", ["kind"], registry=own)

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)


class MetricsMiddleware:
    """Counts the status each HTTP request was really answered with (also a 413 sent by the body limit
    before the app saw the request), its latency, and the `error` kind of every JSON error body."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, error_body = 500, b""

        async def counting_send(message: Message) -> None:
            nonlocal status, error_body
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400 and len(error_body) < 4096:
                error_body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = scope["route"].path if "route" in scope else "unmatched"  # the router sets it on this scope
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
            if status >= 400:
                self.metrics.errors.labels(error_kind(error_body, status)).inc()


def error_kind(body: bytes, status: int) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return f"http_{status}"
