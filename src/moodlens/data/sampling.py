"""Validation splits and class balancing: loss weights, oversampling, synthesized minority faces."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from moodlens.data.faces import FaceData
from moodlens.runtime.errors import MoodlensError

# loss weights proportional to a class's count to the power -p: inverse frequency, or its square root (milder)
WEIGHT_POWERS = {"weights": 1.0, "sqrt-weights": 0.5}
BALANCE_MODES = ("none", *WEIGHT_POWERS, "oversample", "synthesize")


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so that each class keeps about `fraction` of its images for validation."""
    if not 0.0 < fraction < 1.0:
        raise MoodlensError(f"validation fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = round(len(members) * fraction)
        n_val = min(max(n_val, 1), len(members) - 1) if len(members) > 1 else 0
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def class_weights(labels: np.ndarray, num_classes: int, power: float = 1.0) -> np.ndarray:
    """Loss weights proportional to count ** -power (1: inverse frequency), scaled so that the average image
    has weight 1; 0 for absent classes."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    scale = len(labels) / (counts[counts > 0] ** (1 - power)).sum()
    weights = np.where(counts > 0, scale * np.maximum(counts, 1) ** -power, 0.0)
    return weights.astype(np.float32)


def oversampled_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One epoch of indices in which every class appears as often as the largest one."""
    classes = np.unique(labels)
    target = max(int((labels == c).sum()) for c in classes)
    picks = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        extra = rng.choice(members, size=target - len(members), replace=True)
        picks.append(np.concatenate([members, extra]))
    return rng.permutation(np.concatenate(picks))


def _synthesize_face(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A new face from an existing one: changed contrast, brightness, colour and sharpness."""
    face = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
    face = ImageEnhance.Contrast(face).enhance(rng.uniform(0.6, 1.5))
    face = ImageEnhance.Brightness(face).enhance(rng.uniform(0.7, 1.3))
    if face.mode == "RGB":
        face = ImageEnhance.Color(face).enhance(rng.uniform(0.5, 1.5))
    face = ImageEnhance.Sharpness(face).enhance(rng.uniform(0.0, 2.5))
    if rng.random() < 0.5:
        face = ImageOps.mirror(face)
    return np.asarray(face, dtype=np.uint8).reshape(image.shape)


def synthesize_minorities(data: FaceData, seed: int) -> FaceData:
    """Add enhanced copies of minority-class faces until every class is as large as the largest."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(data.labels, return_counts=True)
    target = counts.max()
    sources = np.concatenate(
        [
            rng.choice(np.flatnonzero(data.labels == c), size=target - n, replace=True)
            for c, n in zip(classes, counts, strict=True)
        ]
    ).astype(np.int64)
    if not len(sources):
        return data
    extra = data.select(sources)
    extra.images = np.stack([_synthesize_face(image, rng) for image in extra.images])
    extra.keys = [f"{key}#synth{i}" for i, key in enumerate(extra.keys)]
    extra.digests = [f"synth{i}" for i in range(len(extra))]
    return data.concat(extra)
