"""Where the benchmarks find the shared data: ../shared/data beside the checkout, or MOODLENS_SHARED (as the
tests do)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOODLENS_SHARED", ROOT.parent / "shared" / "data"))
