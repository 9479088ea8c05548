"""How the benchmarks time a piece of work: after one warm-up, the median or the best of some runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def run_times(work: Callable[[], object], repeats: int, warm_up: bool = True) -> list[float]:
    """Seconds each of `repeats` runs of `work` took."""
    if warm_up:
        work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def median_ms(work: Callable[[], object], repeats: int) -> float:
    return round(1000 * float(np.median(run_times(work, repeats))), 2)
