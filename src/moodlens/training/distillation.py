"""Knowledge distillation: trained models ("teachers") lend their predictions to a student's targets."""

from __future__ import annotations

import torch
from torch import nn

from moodlens.training.checkpoints import load_matching_model
from moodlens.training.inference import autocast


def load_teachers(
    names: list[str], labels: list[str], image_size: int, channels: int, device: torch.device
) -> list[nn.Module]:
    """Load each teacher (run directory, .pt file or shipped name) onto `device` and check it sees and says what
    the student does."""
    teachers = []
    for name in names:
        model, _ = load_matching_model(name, labels, image_size, channels, "teacher")
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        teachers.append(model.to(device, memory_format=torch.channels_last))
    return teachers


@torch.no_grad()
def teacher_probs(teachers: list[nn.Module], x: torch.Tensor, precision: str) -> torch.Tensor:
    """The teachers' mean class probabilities for the (augmented) batch the student is about to see."""
    x = x.contiguous(memory_format=torch.channels_last)
    with autocast(precision, x.device):
        return torch.stack([teacher(x).float().softmax(dim=1) for teacher in teachers]).mean(dim=0)


def distilled_targets(
    targets: torch.Tensor, teachers: list[nn.Module], x: torch.Tensor, weight: float, precision: str
) -> torch.Tensor:
    """(1 - weight) * the data's targets + weight * the teachers' mean prediction."""
    return (1 - weight) * targets + weight * teacher_probs(teachers, x, precision)
