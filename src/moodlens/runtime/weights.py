"""Where a model name becomes a file: the emotion models and the face detector shipped in the package."""

from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"  # <name>.onnx for analysis, <name>.pt to fine-tune
DETECTOR_DIR = WEIGHTS_DIR / "detectors"
DEFAULT_MODEL = "default"  # the model used wherever none is named: Python API, CLI, server, page


def shipped_models(suffix: str = ".onnx") -> list[str]:
    """The names of the shipped emotion models with a file of this suffix."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob(f"*{suffix}"))


def shipped_file(name: str, suffix: str) -> Path | None:
    """The shipped model `name`'s file with this suffix, if there is one."""
    path = WEIGHTS_DIR / f"{name}{suffix}"
    return path if path.is_file() else None


def resolve_onnx(name_or_path: str | os.PathLike) -> Path:
    """An .onnx file written by `moodlens export`, or the name of a model shipped in the package."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_file(str(name_or_path), ".onnx")
    if shipped:
        return shipped
    names = ", ".join(shipped_models()) or "none shipped"
    raise FileNotFoundError(f"no ONNX model at {str(name_or_path)!r}: give an .onnx file or a shipped name ({names})")


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """A .pt file, a run directory (its best.pt), or the name of a model shipped in the package."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "best.pt"
    elif not path.exists():
        path = shipped_file(str(name_or_path), ".pt") or path
    if not path.is_file():
        raise FileNotFoundError(
            f"no model at {str(name_or_path)!r}: give a .pt file, a run directory or a shipped name "
            f"({', '.join(shipped_models('.pt')) or 'none shipped yet'})"
        )
    return path


def is_onnx(name_or_path: str | os.PathLike) -> bool:
    """An exported ONNX model, not a PyTorch checkpoint: what `moodlens eval` runs it with."""
    return str(name_or_path).endswith(".onnx")


def detector_file(name: str) -> Path:
    return DETECTOR_DIR / f"{name}.onnx"
