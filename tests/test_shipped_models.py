import numpy as np

from moodlens.checkpoints import load_model
from moodlens.datasets import load_dataset
from moodlens.inference import predict_probs
from moodlens.labels import EMOTIONS, FER2013_EMOTIONS
from moodlens.training_data import class_index

from conftest import FER_VAL, FERPLUS_VALID


def accuracy_on(name: str, data_path, per_class: int) -> tuple[list[str], float, float]:
    model, cfg, labels, _ = load_model(name)
    data = load_dataset(data_path, cfg.image_size, cfg.in_channels, per_class)
    y = class_index(data, labels)
    predicted = predict_probs(model, data.images, tta="flip").argmax(1)
    recalls = [(predicted[y == c] == c).mean() for c in np.unique(y)]
    return labels, float((predicted == y).mean()), float(np.mean(recalls))


def test_default_model_ships_and_recognises_fer2013_faces():
    labels, accuracy, balanced = accuracy_on("default", FER_VAL, per_class=60)
    assert labels == list(FER2013_EMOTIONS)
    # chance is 1/7 on this class-balanced sample; the card reports the full-split figures
    assert accuracy > 0.5 and balanced > 0.45


def test_ferplus_model_ships_with_contempt():
    labels, accuracy, balanced = accuracy_on("ferplus", FERPLUS_VALID, per_class=60)
    assert labels == list(EMOTIONS)
    assert accuracy > 0.5 and balanced > 0.45
