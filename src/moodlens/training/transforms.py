"""Batched tensor transforms: uint8 faces to normalised tensors, and on-the-fly augmentation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from moodlens.runtime.classifier import model_input
from moodlens.training.config import LOW_RES_SIDES


@dataclass
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal mirror
    rotate: float = 10.0  # max degrees either way
    scale: float = 0.15  # zoom in [1 - scale, 1 + scale]
    translate: float = 0.1  # max shift as a fraction of the side
    brightness: float = 0.25
    contrast: float = 0.25
    erase: float = 0.5  # probability of erasing one random rectangle
    erase_area: tuple[float, float] = (0.02, 0.2)

    def scaled(self, strength: float) -> AugmentConfig:
        """The same recipe with every magnitude (not the flip) multiplied by `strength`."""
        return AugmentConfig(
            flip=self.flip,
            rotate=self.rotate * strength,
            scale=self.scale * strength,
            translate=self.translate * strength,
            brightness=self.brightness * strength,
            contrast=self.contrast * strength,
            erase=min(1.0, self.erase * strength),
            erase_area=self.erase_area,
        )


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float32 in [-1, 1], as analysis gives faces to the models."""
    return torch.from_numpy(np.ascontiguousarray(model_input(images)))


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def random_affine(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Mirror, rotate, zoom and shift every face of the batch by its own random amount."""
    n = x.shape[0]
    angle = _uniform(n, -cfg.rotate, cfg.rotate, generator) * (math.pi / 180)
    zoom = _uniform(n, 1 - cfg.scale, 1 + cfg.scale, generator)
    mirror = torch.where(torch.rand(n, generator=generator) < cfg.flip, -1.0, 1.0)
    shift = _uniform(2 * n, -cfg.translate, cfg.translate, generator).view(n, 2) * 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos * mirror, -sin, shift[:, 0]], 1), torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_photometric(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    contrast = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, generator).view(n, 1, 1, 1)
    brightness = _uniform(n, -cfg.brightness, cfg.brightness, generator).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + brightness).clamp_(-1.0, 1.0)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Blank one rectangle (random area and aspect) in a random subset of the faces."""
    n, _, h, w = x.shape
    area = _uniform(n, *cfg.erase_area, generator) * h * w
    aspect = torch.exp(_uniform(n, math.log(0.3), math.log(3.3), generator))
    eh = (area * aspect).sqrt().clamp(1, h)
    ew = (area / aspect).sqrt().clamp(1, w)
    top = torch.rand(n, generator=generator) * (h - eh)
    left = torch.rand(n, generator=generator) * (w - ew)
    apply = torch.rand(n, generator=generator) < cfg.erase
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + ew).view(n, 1, 1))
        & apply.view(n, 1, 1)
    )
    return x.masked_fill(inside.unsqueeze(1), 0.0)


def random_low_resolution(x: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """A random `share` of the faces shrunk to a random side and enlarged back, as a small face in a crowd
    reaches the model. Every training face can be small, not only the photos rendered small, so that blur
    does not tell the model which data set (and so which class frequencies) a face comes from."""
    n, _, h, w = x.shape
    low, high = (round(f * h) for f in LOW_RES_SIDES)
    sides = torch.randint(low, high + 1, (n,), generator=generator)
    chosen = torch.rand(n, generator=generator) < share
    out = x.clone()
    for side in sides[chosen].unique().tolist():
        idx = torch.nonzero(chosen & (sides == side)).squeeze(1)
        small = F.interpolate(x[idx], size=(side, round(side * w / h)), mode="area")
        out[idx] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp_(-1.0, 1.0)
    return out


def augment(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    x = random_affine(x, cfg, generator)
    x = random_photometric(x, cfg, generator)
    if cfg.erase > 0:
        x = random_erase(x, cfg, generator)
    return x
