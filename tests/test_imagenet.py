"""ImageNet weights (`moodlens train --pretrained`): every layer but the classifier comes from the packaged
network, and a greyscale model reads a grey face exactly as the colour network reads it in three channels."""

import matplotlib.cbook as cbook
import numpy as np
import pytest
import torch
from PIL import Image

from moodlens.data.faces import load_dataset
from moodlens.runtime.errors import MoodlensError
from moodlens.training.checkpoints import load_model
from moodlens.training.config import TrainConfig
from moodlens.training.imagenet import imagenet_state, load_imagenet
from moodlens.training.loop import train
from moodlens.training.models import ModelConfig, create_model

from conftest import FER_VAL, FERPLUS_VALID


def pretrained(channels: int) -> torch.nn.Module:
    cfg = ModelConfig("efficientnet_lite0", num_classes=7, in_channels=channels, image_size=64)
    model = create_model(cfg)
    load_imagenet(model, cfg)
    return model.eval()


def test_a_grey_model_reads_a_face_as_the_colour_network_reads_it_in_three_channels():
    faces = load_dataset(FER_VAL, per_class=1).images  # (7, 48, 48, 1) uint8
    grey = torch.nn.functional.interpolate(torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 127.5 - 1, size=64)
    colour_model, grey_model = pretrained(3), pretrained(1)
    grey_model[-1].load_state_dict(colour_model[-1].state_dict())  # the classifiers start fresh: make them one
    with torch.no_grad():
        expected = colour_model(grey.expand(-1, 3, -1, -1))
        assert torch.allclose(grey_model(grey), expected, atol=1e-4)
        assert expected.std(dim=0).mean() > 0.01  # the faces are told apart, not a constant answer


def test_every_layer_but_the_classifier_holds_the_packaged_weights():
    cfg = ModelConfig("efficientnet_lite0", num_classes=7, in_channels=3, image_size=64)
    packaged = [t for t in imagenet_state(cfg).values() if t.dim() > 0]
    ours = [t for t in pretrained(3).state_dict().values() if t.dim() > 0]
    assert len(packaged) == len(ours)
    assert all(torch.equal(a, b) for a, b in zip(packaged[:-2], ours[:-2], strict=True))
    assert ours[-2].shape == (7, 1280)


def test_models_without_imagenet_weights_and_pretrained_with_init_are_refused_in_one_line():
    with pytest.raises(MoodlensError, match="no ImageNet weights for 'vgg'") as error:
        load_imagenet(create_model(ModelConfig("vgg", 7)), ModelConfig("vgg", 7))
    assert "\n" not in str(error.value)
    with pytest.raises(MoodlensError, match="pick one"):
        TrainConfig(data=str(FER_VAL), pretrained=True, init="ferplus")


def test_a_pretrained_run_starts_from_the_imagenet_weights(tmp_path):
    cfg = TrainConfig(
        data=str(FERPLUS_VALID), val=str(FER_VAL), out=str(tmp_path / "run"), model="efficientnet_lite0",
        pretrained=True, image_size=64, classes=["happy", "neutral"], per_class=3, epochs=1, lr=1e-9,
        precision="fp32", clean=False,  # the faces are FER-2013's validation faces again: keep them
    )  # fmt: skip
    train(cfg)
    trained = load_model(cfg.out)[0]
    packaged = imagenet_state(ModelConfig("efficientnet_lite0", 8))
    convolutions = [t for t in packaged.values() if t.dim() == 4][1:]  # the grey stem is checked above
    kept = [t for t in trained.state_dict().values() if t.dim() == 4][1:]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(kept, convolutions, strict=True))


def test_the_packaged_network_reads_a_photo_as_imagenet_networks_do():
    """Grace Hopper (matplotlib's sample photo) in uniform: ImageNet's class 652, "military uniform"."""
    cfg = ModelConfig("efficientnet_lite0", num_classes=1000, in_channels=3, image_size=224)
    model = create_model(cfg)
    packaged = [t for name, t in imagenet_state(cfg).items() if not name.endswith("num_batches_tracked")]
    ours = [name for name in model.state_dict() if not name.endswith("num_batches_tracked")]
    model.load_state_dict(dict(zip(ours, packaged, strict=True)), strict=False)
    photo = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB").resize((224, 224))
    pixels = torch.from_numpy(np.asarray(photo, dtype=np.float32)).permute(2, 0, 1)[None] / 127.5 - 1
    with torch.no_grad():
        assert model.eval()(pixels).argmax().item() == 652
