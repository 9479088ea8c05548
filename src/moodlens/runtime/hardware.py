"""What this machine's CPU offers, from /proc/cpuinfo (empty where there is none): for choosing bf16 and for
recording the machine beside every timing."""

from __future__ import annotations

from pathlib import Path


def cpu_field(name: str) -> str:
    """A field of the first processor in /proc/cpuinfo ("flags", "model name"); empty where there is none."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":")[0].strip() == name), "")


def cpu_flags() -> set[str]:
    return set(cpu_field("flags").split())


def amx_supported() -> bool:
    """Whether the CPU has AMX matrix tiles for bf16."""
    return "amx_bf16" in cpu_flags()


def bf16_native() -> bool:
    """Whether the CPU computes bf16 in hardware (AMX, or AVX-512 BF16); elsewhere PyTorch emulates it, about
    ten times slower than fp32."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())
