"""Where the benchmarks find the shared data: ../shared/data beside the checkout, or MOODLENS_SHARED (as the
tests do)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOODLENS_SHARED", ROOT.parent / "shared" / "data"))

EVAL_BACKDROPS = 20  # the first WIDER crowd photos are the shift suite's backgrounds; training uses the others


def crowd_backdrops(for_training: bool) -> list[Path]:
    """WIDER crowd photos to set faces on: the shift suite's and training's never the same ones."""
    photos = sorted((SHARED / "crowds" / "wider416" / "images").iterdir())
    return photos[EVAL_BACKDROPS:] if for_training else photos[:EVAL_BACKDROPS]
