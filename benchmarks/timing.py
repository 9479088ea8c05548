"""How the benchmarks time a piece of work (after one warm-up, the median or the best of some runs), and the
machine they ran on."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
from numpy._core._multiarray_umath import __cpu_features__  # what CPUID tells this process (numpy.show_runtime)

from moodlens.runtime.hardware import cpu_field, cpu_flags


def machine(threads: int) -> dict:
    """The CPU a timing comes from: its name, the vector extensions that decide speed, cores and threads used,
    and whether the libraries saw its AVX-512 (not under benchmarks/avx2_only/run.sh, which hides it)."""
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma", "sse4")))
    seen = "avx512" if __cpu_features__["AVX512F"] else "avx2" if __cpu_features__["AVX2"] else "older"
    return {
        "cpu": cpu_field("model name"),
        "flags": flags,
        "isa_seen": seen,
        "cores": os.cpu_count(),
        "threads": threads,
    }


def avx512_hidden() -> bool:
    """Whether the CPU has AVX-512 but this process is not shown it (run under benchmarks/avx2_only/run.sh)."""
    return "avx512f" in cpu_flags() and not __cpu_features__["AVX512F"]


def command(arguments: str) -> str:
    """The command line a result came from, with the wrapper that hid AVX-512 where it was hidden."""
    return ("sh benchmarks/avx2_only/run.sh " if avx512_hidden() else "") + f"python {arguments}"


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
