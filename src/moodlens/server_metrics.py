"""The server's Prometheus metrics, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "moodlens_requests", "HTTP requests by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "moodlens_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.faces = Counter("moodlens_faces_analysed", "faces found and classified", registry=self.registry)
        self.errors = Counter(
            "moodlens_errors", "requests refused or failed, by kind", ["kind"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
