"""Every entry of the registries, exercised the same way: each face detector on the hand-boxed photos, each
model architecture on real faces, forward and backward; and a name registered twice is refused."""

import numpy as np
import pytest
import torch

from moodlens.data.faces import load_dataset
from moodlens.evaluation.boxes import BoxScore, read_imglab
from moodlens.runtime.detection import DETECTORS, load_detector, register_detector
from moodlens.runtime.imaging import read_image
from moodlens.training.models import MODELS, ModelConfig, create_model, register_model

from conftest import FER_VAL, SHARED

DLIB = SHARED / "faces" / "dlib"


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_each_detector_finds_the_hand_boxed_faces(name):
    options = {"threads": 1} if name == "centerface" else {}
    detector = load_detector(name, **options)
    score = BoxScore()
    for path, boxes in {**read_imglab(DLIB / "training.xml"), **read_imglab(DLIB / "testing.xml")}.items():
        score.add(boxes, [d.box for d in detector.detect(read_image(path))])
    assert score.boxes == 43 and score.found >= 0.85 * 43 and score.false_detections <= 2, vars(score)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    data = load_dataset(FER_VAL, per_class=2)
    return torch.from_numpy(data.images.astype(np.float32) / 255).permute(0, 3, 1, 2)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_architecture_learns_on_real_faces(name, faces):
    torch.manual_seed(0)
    model = create_model(ModelConfig(name=name, num_classes=7)).train()
    labels = torch.arange(len(faces)) % 7
    loss = torch.nn.functional.cross_entropy(model(faces), labels)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        assert model(faces[:3]).shape == (3, 7)


def test_a_name_registered_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register_model(next(iter(MODELS)), 8, "again")
    existing = DETECTORS[next(iter(DETECTORS))]
    with pytest.raises(ValueError, match="registered twice"):
        register_detector(existing)
