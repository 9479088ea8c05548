"""How a recording is made and read back, defined once for `moodlens record`, `moodlens sessions`, the server
and the page (no database driver needed to read them)."""

from __future__ import annotations

from dataclasses import dataclass

BUCKET = 10.0  # seconds a timeline bucket lasts unless asked otherwise: CLI, API and exports alike


@dataclass
class RecordOptions:
    fps: float = 2.0  # analysed frames per second
    duration: float | None = None  # seconds to record; None: until the source ends or Ctrl-C
    reconnect: float = 60.0  # seconds a live source may be gone before the recorder gives up
    recorder: str | None = None  # this recorder's name in the session (default: host and source)
