"""The server's settings: one process's limits and defaults, from `moodlens serve` options or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from moodlens.runtime.imaging import MAX_PIXELS

MIN_THRESHOLD = 0.2  # detectors run at this floor; requests choose any threshold above it


@dataclass
class ServerSettings:
    model: str = "default"
    max_upload_mb: float = 20.0
    max_pixels: int = MAX_PIXELS  # larger images get 413, as `moodlens analyze` refuses them
    threads: int = 2  # analysis worker threads (each ONNX session runs single-threaded)
    max_pending: int = 16  # requests and live frames running or waiting for a worker; more get 503
    max_batch_files: int = 16
    max_live: int = 8  # open /v1/live connections; more are closed with code 1013
    database: str = ""  # where sessions are kept: a database URL, or "" for moodlens's default SQLite file
    record_fps: float = 2.0  # live frames recorded into a session per second, at most
    host: str = "127.0.0.1"  # the address served: beyond loopback, session writes need `token`
    allowed_hosts: str = ""  # Host names answered, comma-separated ("*": any); "" : loopback and `host`
    token: str = ""  # required (Authorization: Bearer) to record, create or delete sessions, when set

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Settings from MOODLENS_<FIELD> variables, so every uvicorn worker process gets them."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"MOODLENS_{f.name.upper()}")
            if raw is not None:
                values[f.name] = type(getattr(cls, f.name))(raw)
        return cls(**values)

    @property
    def max_upload_bytes(self) -> int:
        """Request bodies over this get 413 (BodySizeLimit); uploads up to it stay in memory."""
        return int(self.max_upload_mb * 1024 * 1024)
