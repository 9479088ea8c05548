"""A registry of emotion CNNs. Every model maps (N, C, S, S) faces to (N, num_classes) logits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from moodlens.runtime.errors import MoodlensError


@dataclass
class ModelConfig:
    name: str
    num_classes: int
    in_channels: int = 1
    image_size: int = 48
    width: int | None = None  # channels of the first stage; None takes the model's default
    dropout: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)


MODELS: dict[str, tuple[Callable[[ModelConfig], nn.Module], int, str]] = {}


def register_model(name: str, default_width: int, summary: str):
    if name in MODELS:
        raise ValueError(f"model {name!r} is registered twice")

    def wrap(builder: Callable[[ModelConfig], nn.Module]):
        MODELS[name] = (builder, default_width, summary)
        return builder

    return wrap


def create_model(cfg: ModelConfig) -> nn.Module:
    if cfg.name not in MODELS:
        raise MoodlensError(f"unknown model {cfg.name!r}; available: {', '.join(sorted(MODELS))}")
    builder, default_width, _ = MODELS[cfg.name]
    if cfg.width is None:
        cfg.width = default_width
    return builder(cfg)


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


@register_model("baseline", 32, "the small Keras-tutorial CNN: 4 convs, max pooling, dropout, dense head")
def baseline(cfg: ModelConfig) -> nn.Module:
    w = cfg.width
    side = cfg.image_size // 8
    return nn.Sequential(
        nn.Conv2d(cfg.in_channels, w, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(w, 2 * w, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(2 * w, 4 * w, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(4 * w, 4 * w, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(4 * w * side * side, 1024),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(1024, cfg.num_classes),
    )


@register_model("vgg", 64, "VGG-style: 4 stages of 2 conv-BN-ReLU, max pooling, dense head")
def vgg(cfg: ModelConfig) -> nn.Module:
    widths = [cfg.width * m for m in (1, 2, 4, 8)]
    layers: list[nn.Module] = []
    c_in = cfg.in_channels
    for c_out in widths:
        layers += [conv_bn(c_in, c_out), conv_bn(c_out, c_out), nn.MaxPool2d(2)]
        c_in = c_out
    side = cfg.image_size // 16
    head = [nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(c_in * side * side, 512), nn.ReLU(inplace=True)]
    head += [nn.Dropout(cfg.dropout), nn.Linear(512, cfg.num_classes)]
    return nn.Sequential(*layers, *head)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(c_in, c_out, stride),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


@register_model("resnet", 32, "ResNet-18-style: 4 stages of 2 residual blocks, global average pooling")
def resnet(cfg: ModelConfig) -> nn.Module:
    widths = [cfg.width * m for m in (1, 2, 4, 8)]
    layers: list[nn.Module] = [conv_bn(cfg.in_channels, widths[0])]
    c_in = widths[0]
    for stage, c_out in enumerate(widths):
        stride = 1 if stage == 0 else 2
        layers += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
        c_in = c_out
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(c_in, cfg.num_classes)]
    return nn.Sequential(*layers, *head)


def conv_bn_relu6(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(c_out, eps=1e-3), nn.ReLU6(inplace=True)]


class InvertedResidual(nn.Module):
    """MobileNetV2's block as EfficientNet-Lite has it: 1x1 expansion, depthwise k x k, 1x1 projection, no
    squeeze-excitation; a shortcut where the shape is kept."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = c_in * expand
        layers = conv_bn_relu6(c_in, hidden) if expand != 1 else []
        layers += conv_bn_relu6(hidden, hidden, kernel, stride, groups=hidden)
        layers += [nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out, eps=1e-3)]
        self.body = nn.Sequential(*layers)
        self.shortcut = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.shortcut else y


# EfficientNet-Lite0's stages: expansion, kernel, first stride, output channels, blocks
LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))  # fmt: skip


@register_model(
    "efficientnet_lite0",
    32,
    "EfficientNet-Lite0 (4.7 M parameters at 1,000 classes; fixed widths): `moodlens train --pretrained` starts "
    "it from ImageNet weights",
)
def efficientnet_lite0(cfg: ModelConfig) -> nn.Module:
    if cfg.width != 32:
        raise MoodlensError(f"efficientnet_lite0 has fixed widths (its stem is 32 channels), not --width {cfg.width}")
    layers = conv_bn_relu6(cfg.in_channels, 32, 3, stride=2)
    c_in = 32
    for expand, kernel, stride, c_out, blocks in LITE0_STAGES:
        for block in range(blocks):
            layers.append(InvertedResidual(c_in, c_out, expand, kernel, stride if block == 0 else 1))
            c_in = c_out
    layers += conv_bn_relu6(c_in, 1280)
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(1280, cfg.num_classes)]
    return nn.Sequential(*layers, *head)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def mflops_per_face(model: nn.Module, cfg: ModelConfig) -> float:
    """Floating-point operations (multiply and add counted apart) of one forward pass, in millions."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, cfg.in_channels, cfg.image_size, cfg.image_size))
    model.train(was_training)
    return counter.get_total_flops() / 1e6


def describe_models(num_classes: int = 7) -> list[dict]:
    rows = []
    for name, (_, _, summary) in sorted(MODELS.items()):
        cfg = ModelConfig(name=name, num_classes=num_classes)
        model = create_model(cfg)
        rows.append(
            {
                "name": name,
                "width": cfg.width,
                "params": count_parameters(model),
                "mflops": round(mflops_per_face(model, cfg), 1),
                "summary": summary,
            }
        )
    return rows
