"""Saving checkpoints atomically and loading models by run directory, file or shipped name."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.files import OutputError, write_atomic
from moodlens.runtime.weights import resolve_checkpoint
from moodlens.training.models import ModelConfig, create_model


def save_atomic(obj: dict, path: Path) -> None:
    """Write to a temporary file beside `path`, then rename: a kill or a full disk never leaves half a
    checkpoint, nor a temporary file."""
    try:
        write_atomic(path, lambda tmp: torch.save(obj, tmp))
    except RuntimeError as e:  # torch reports a failed write as a RuntimeError
        raise OutputError(f"cannot write checkpoint {path}: {e}".splitlines()[0]) from e


def read_checkpoint(path: Path) -> dict:
    """A checkpoint written by `moodlens train`; anything else is refused in one line."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds (unpickling, zip, runtime) for a file that is not one
        raise MoodlensError(f"{path}: not a moodlens checkpoint ({str(e).splitlines()[0][:200]})") from e
    if not isinstance(checkpoint, dict) or not {"model_config", "labels", "model"} <= set(checkpoint):
        raise MoodlensError(f"{path}: not a moodlens checkpoint (no model_config, labels and model inside)")
    return checkpoint


def load_model(name_or_path: str) -> tuple[nn.Module, ModelConfig, list[str], Path]:
    """Load an inference-ready model, its config, its class labels and the checkpoint path."""
    path = resolve_checkpoint(name_or_path)
    checkpoint = read_checkpoint(path)
    cfg = ModelConfig(**checkpoint["model_config"])
    model = create_model(cfg)
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, cfg, list(checkpoint["labels"]), path


def _check_input(role: str, path: Path, cfg: ModelConfig, image_size: int, channels: int) -> None:
    if (cfg.image_size, cfg.in_channels) != (image_size, channels):
        raise MoodlensError(
            f"{role} {path} takes {cfg.image_size}x{cfg.image_size}x{cfg.in_channels} faces, "
            f"the model being trained {image_size}x{image_size}x{channels}"
        )


def load_matching_model(
    name_or_path: str, labels: list[str], image_size: int, channels: int, role: str
) -> tuple[nn.Module, ModelConfig]:
    """Load a model that must see and say what the model being trained does (a teacher)."""
    model, cfg, model_labels, path = load_model(name_or_path)
    if model_labels != labels:
        raise MoodlensError(f"{role} {path} predicts {model_labels}, the model being trained {labels}")
    _check_input(role, path, cfg, image_size, channels)
    return model, cfg


def load_starting_model(
    name_or_path: str, labels: list[str], image_size: int, channels: int
) -> tuple[nn.Module, ModelConfig]:
    """The --init model, its classifier cut to `labels`: a class it knows keeps its output weights, a class it
    does not know starts from fresh ones (fine-tuning to other classes)."""
    model, cfg, model_labels, path = load_model(name_or_path)
    _check_input("--init model", path, cfg, image_size, channels)
    if model_labels == labels:
        return model, cfg
    old = model[-1] if isinstance(model, nn.Sequential) else None
    if not isinstance(old, nn.Linear):
        raise MoodlensError(f"--init model {path}: its classes cannot be changed (it does not end in a linear layer)")
    new = nn.Linear(old.in_features, len(labels))
    with torch.no_grad():
        for row, name in enumerate(labels):
            if name in model_labels:
                new.weight[row] = old.weight[model_labels.index(name)]
                new.bias[row] = old.bias[model_labels.index(name)]
    model[-1] = new
    return model, replace(cfg, num_classes=len(labels))
