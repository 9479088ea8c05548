"""The server's settings, each defined once (name, default, bounds, help): `moodlens serve` builds its options
from them, and every server process reads them from MOODLENS_<NAME> variables (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from moodlens.recording.options import RecordOptions
from moodlens.runtime.imaging import MAX_PIXELS
from moodlens.runtime.weights import DEFAULT_MODEL

MIN_THRESHOLD = 0.2  # detectors run at this floor; requests choose any threshold above it
ENV_PREFIX = "MOODLENS_"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    model: str = Field(DEFAULT_MODEL, description="model used when a request names none")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    allowed_hosts: str = Field(
        "",
        description="Host names answered, comma-separated, * for any (unset: loopback and the host; any for 0.0.0.0)",
    )
    token: str = Field("", description="required to record, create or delete sessions; needed off loopback")
    threads: int = Field(2, ge=1, le=256, description="analysis threads per process (each ONNX session 1 thread)")
    max_upload_mb: float = Field(20.0, gt=0, le=4096, allow_inf_nan=False, description="larger bodies get 413")
    max_pixels: int = Field(MAX_PIXELS, ge=1, description="larger images get 413, as `moodlens analyze` refuses them")
    max_pending: int = Field(16, ge=1, le=10_000, description="requests and live frames in progress before 503")
    max_batch_files: int = Field(16, ge=1, le=1000, description="files in one /v1/analyze/batch request")
    max_live: int = Field(8, ge=1, le=10_000, description="open webcam (/v1/live) connections per process")
    database: str = Field("", description="sessions' database URL (default: an SQLite file in ~/.local/share)")
    record_fps: float = Field(
        RecordOptions.fps, gt=0, le=30, allow_inf_nan=False, description="live frames recorded a second, at most"
    )

    @property
    def max_upload_bytes(self) -> int:
        """Request bodies over this get 413 (BodySizeLimit); uploads up to it stay in memory."""
        return int(self.max_upload_mb * 1024 * 1024)


def environment_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"
