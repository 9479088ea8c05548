"""How a recording is made and read back, defined once for `moodlens record`, `moodlens sessions`, the server
and the page (no database driver needed to read them)."""

from __future__ import annotations

from dataclasses import dataclass

from moodlens.argtypes import NON_NEGATIVE, POSITIVE, option

BUCKET = 10.0  # seconds a timeline bucket lasts unless asked otherwise: CLI, API and exports alike


@dataclass
class RecordOptions:
    """`moodlens record`'s options: each one's default, bounds and help, from which the command makes them."""

    fps: float = option(2.0, "frames analysed per second", type=POSITIVE)
    duration: float | None = option(
        None, "stop after this long (default: when the source ends, or Ctrl-C)", type=POSITIVE, metavar="SECONDS"
    )
    reconnect: float = option(60.0, "how long a lost stream is retried", type=NON_NEGATIVE, metavar="SECONDS")
    recorder: str | None = option(None, "this recorder's name in the session (default: HOST:SOURCE)")
    at: float | None = option(
        None,
        "a video file: where in the session it starts, in seconds from the session's start (default: a new file "
        "follows what the session holds; the same file again keeps its times). 0: a second camera of the same event",
        type=NON_NEGATIVE,
        metavar="SECONDS",
    )
