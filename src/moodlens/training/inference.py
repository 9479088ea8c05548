"""Where a PyTorch model runs (CPU or CUDA GPU) and in what precision, and batched prediction with it."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch
from torch import nn

from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.hardware import amx_supported, cpu_field
from moodlens.training.config import DEVICES, PRECISIONS
from moodlens.training.transforms import to_tensor


def bf16_supported() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_device(device: str) -> torch.device:
    """'auto' is this process's CUDA GPU (LOCAL_RANK under torchrun) where PyTorch sees one, else the CPU."""
    if device not in DEVICES:
        raise MoodlensError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise MoodlensError("--device cuda: PyTorch sees no CUDA GPU here (a CPU-only build or no driver); use cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def describe_device(device: torch.device) -> str:
    """What a run trained on, for its records: the GPU's name, or the CPU's model, cores and AMX."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    amx = "AMX" if amx_supported() else "no AMX"
    threads = torch.get_num_threads()
    return f"cpu: {cpu_field('model name') or 'unknown'}, {os.cpu_count()} cores, {amx}, {threads} threads"


def resolve_precision(precision: str, on_gpu: bool = False) -> str:
    """'auto' becomes 'bf16' on CUDA GPUs that have it and on CPUs with AMX, else 'fp32'. With AVX-512 BF16
    alone, bf16 training ran slower than fp32 (benchmarks/results/train_speed_no_amx.json: vgg width 64, 58
    against 74 images/s)."""
    if precision == "auto":
        if on_gpu:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if bf16_supported() and amx_supported() else "fp32"
    if precision not in PRECISIONS:
        raise MoodlensError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_probs(
    model: nn.Module, images: np.ndarray, batch_size: int = 256, precision: str = "fp32", tta: str | None = None
) -> np.ndarray:
    """Class probabilities (N, K) for uint8 faces (N, H, W, C), on the model's device; tta='flip' also
    averages the mirror."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        x = to_tensor(images[start : start + batch_size]).to(device).contiguous(memory_format=torch.channels_last)
        with autocast(precision, device):
            probs = model(x).float().softmax(dim=1)
            if tta == "flip":
                probs = (probs + model(x.flip(dims=[3])).float().softmax(dim=1)) / 2
        out.append(probs.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
