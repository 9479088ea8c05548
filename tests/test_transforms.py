import numpy as np
import torch

from moodlens.data.faces import load_dataset
from moodlens.training.transforms import AugmentConfig, augment, random_affine, random_low_resolution, to_tensor

from conftest import FER_VAL


def faces() -> torch.Tensor:
    return to_tensor(load_dataset(FER_VAL, per_class=4).images)


def test_to_tensor_layout_and_range():
    x = faces()
    assert x.shape == (28, 1, 48, 48) and x.min() >= -1 and x.max() <= 1


def test_augment_is_reproducible_per_seed_and_changes_faces():
    x = faces()
    cfg = AugmentConfig()
    a = augment(x, cfg, torch.Generator().manual_seed(3))
    b = augment(x, cfg, torch.Generator().manual_seed(3))
    c = augment(x, cfg, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and (a - x).abs().mean() > 0.05


def test_flip_only_mirrors_exactly():
    x = faces()
    cfg = AugmentConfig(flip=1.0, rotate=0, scale=0, translate=0)
    mirrored = random_affine(x, cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(mirrored, x.flip(dims=[3]), atol=1e-5)


def test_zero_strength_is_identity_apart_from_flips():
    cfg = AugmentConfig(flip=0.0).scaled(0.0)
    x = faces()
    out = augment(x, cfg, torch.Generator().manual_seed(0))
    assert np.allclose(out.numpy(), x.numpy(), atol=1e-5)


def sharpness(x: torch.Tensor) -> torch.Tensor:
    """Each face's mean absolute difference between neighbouring pixels."""
    return (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3))


def test_low_resolution_blurs_the_chosen_faces_and_keeps_their_light():
    x = faces()
    assert torch.equal(random_low_resolution(x, 0.0, torch.Generator().manual_seed(0)), x)
    low = random_low_resolution(x, 1.0, torch.Generator().manual_seed(0))
    assert low.shape == x.shape and torch.equal(low, random_low_resolution(x, 1.0, torch.Generator().manual_seed(0)))
    assert (sharpness(low) < 0.9 * sharpness(x)).all()  # every face lost detail
    assert (low.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))).abs().max() < 0.02
    some = random_low_resolution(x, 0.5, torch.Generator().manual_seed(1))
    changed = (some != x).flatten(1).any(1)
    assert 0 < changed.sum() < len(x)
