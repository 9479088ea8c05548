"""Saving checkpoints atomically and loading models by run directory, file or shipped name."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .models import ModelConfig, create_model
from .onnx_classifier import WEIGHTS_DIR


def save_atomic(obj: dict, path: Path) -> None:
    """Write to a temporary file beside `path`, then rename: a kill never leaves half a checkpoint."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def resolve_checkpoint(name_or_path: str) -> Path:
    """A .pt file, a run directory (its best.pt), or the name of a model shipped in the package."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "best.pt"
    elif not path.exists() and (WEIGHTS_DIR / f"{name_or_path}.pt").exists():
        path = WEIGHTS_DIR / f"{name_or_path}.pt"
    if not path.is_file():
        shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
        raise FileNotFoundError(
            f"no model at {name_or_path!r}: give a .pt file, a run directory or a shipped name "
            f"({', '.join(shipped) or 'none shipped yet'})"
        )
    return path


def load_model(name_or_path: str) -> tuple[nn.Module, ModelConfig, list[str], Path]:
    """Load an inference-ready model, its config, its class labels and the checkpoint path."""
    path = resolve_checkpoint(name_or_path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ModelConfig(**checkpoint["model_config"])
    model = create_model(cfg)
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, cfg, list(checkpoint["labels"]), path
