"""Batched prediction with a PyTorch model, in bf16 where the CPU has the matrix units for it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from moodlens.training.transforms import to_tensor


def bf16_supported() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def amx_supported() -> bool:
    """Whether the CPU has AMX matrix tiles for bf16 (read from /proc/cpuinfo; False where it is absent)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return False
    flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
    return "amx_bf16" in flags.split()


def resolve_precision(precision: str) -> str:
    """'auto' becomes 'bf16' on CPUs with AMX, else 'fp32'. With AVX-512 BF16 alone, bf16 training ran
    slower than fp32 (benchmarks/results/train_speed_no_amx.json: vgg width 64, 58 against 74 images/s)."""
    if precision == "auto":
        return "bf16" if bf16_supported() and amx_supported() else "fp32"
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    return precision


def autocast(precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_probs(
    model: nn.Module, images: np.ndarray, batch_size: int = 256, precision: str = "fp32", tta: str | None = None
) -> np.ndarray:
    """Class probabilities (N, K) for uint8 faces (N, H, W, C); tta='flip' also averages the mirror."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = to_tensor(images[start : start + batch_size]).contiguous(memory_format=torch.channels_last)
        with autocast(precision):
            probs = model(x).float().softmax(dim=1)
            if tta == "flip":
                probs = (probs + model(x.flip(dims=[3])).float().softmax(dim=1)) / 2
        out.append(probs.numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
