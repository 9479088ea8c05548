import csv
import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from moodlens.data.labels import EMOTIONS
from moodlens.data.photo_faces import largest_face_crops
from moodlens.data.readers import FERPLUS_COLUMNS, DatasetError
from moodlens.runtime.detection import load_detector
from moodlens.training.config import TrainConfig
from moodlens.training.data import prepare_training_data
from moodlens.training.distillation import distilled_targets, write_predictions

from conftest import FER_VAL, FERPLUS_VALID, MUXSPACE

LABELS = ("angry", "happy", "neutral", "sad", "surprise")


def ferplus_votes(limit_per_label: int) -> dict[str, np.ndarray]:
    """Votes over EMOTIONS of the first FER+ faces whose majority is each of LABELS."""
    chosen, per_label = {}, dict.fromkeys(LABELS, 0)
    with open(FERPLUS_VALID / "label.csv", newline="") as f:
        for row in csv.reader(f):
            votes = dict(zip(FERPLUS_COLUMNS[:7], map(float, row[2:9]), strict=True))
            majority = max(votes, key=votes.get)
            if majority in per_label and per_label[majority] < limit_per_label:
                per_label[majority] += 1
                chosen[row[0]] = np.array([votes.get(name, 0.0) for name in EMOTIONS])
    return chosen


@pytest.fixture()
def linked_tree(tmp_path):
    """A class-folder tree of symlinks to FER+ faces, each filed under its votes' runner-up (so label and
    majority differ), plus FER-2013 faces FER+ has no votes for: the layout recipes/fer2013_sharp.py writes."""
    tree = tmp_path / "tree"
    votes = ferplus_votes(12)
    for name, counts in votes.items():
        label = EMOTIONS[int(np.argsort(counts)[-2])] if np.sort(counts)[-2] > 0 else EMOTIONS[int(counts.argmax())]
        (tree / label).mkdir(parents=True, exist_ok=True)
        os.symlink(FERPLUS_VALID / name, tree / label / name)
    for label in LABELS:
        for path in sorted((FER_VAL / label).iterdir())[:3]:
            os.symlink(path, tree / label / f"fer2013-{path.name}")
    return tree, votes


def linked_config(tree, **options) -> TrainConfig:
    return TrainConfig(str(tree), val_split=0.2, clean=False, **options)


def test_votes_from_ferplus_are_blended_into_the_labels_of_the_same_faces(linked_tree):
    tree, votes = linked_tree
    td = prepare_training_data(linked_config(tree, votes_weight=0.4, votes_from=str(FERPLUS_VALID)))
    assert np.allclose(td.train_targets.sum(1), 1)
    assert (td.train_targets.argmax(1) == td.train_y).all()  # the label keeps the largest share below 0.5
    for key, target, y in zip(td.train.keys, td.train_targets, td.train_y, strict=True):
        name = os.path.basename(key)
        if name.startswith("fer2013-"):
            assert target[y] == 1  # no FER+ votes: the label alone
            continue
        counts = votes[name][[EMOTIONS.index(label) for label in td.labels]]
        expected = 0.6 * np.eye(len(td.labels))[y] + 0.4 * counts / counts.sum()
        assert np.allclose(target, expected, atol=1e-6), name


def test_votes_weight_zero_keeps_one_hot_labels_and_a_non_ferplus_source_is_refused(linked_tree):
    tree, _ = linked_tree
    td = prepare_training_data(linked_config(tree, votes_weight=0.0, votes_from=str(FERPLUS_VALID)))
    assert set(np.unique(td.train_targets)) == {0.0, 1.0}
    with pytest.raises(DatasetError, match="FER\\+ folder"):
        prepare_training_data(linked_config(tree, votes_weight=0.4, votes_from=str(FER_VAL)))


@pytest.fixture()
def few_photos(tmp_path):
    """A muxspace-layout set of the first 12 shared photos."""
    with open(MUXSPACE / "legend.csv", newline="") as f:
        rows = list(csv.reader(f))[:13]
    folder = tmp_path / "photos"
    folder.mkdir()
    with open(folder / "legend.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    os.symlink(MUXSPACE / "images", folder / "images")
    return folder


def test_photos_join_as_the_detectors_crops_repeated_and_with_their_label_as_votes(few_photos):
    detector = load_detector("centerface")
    crops, missed = largest_face_crops(few_photos, detector, 48, 1)
    config = TrainConfig(
        str(FERPLUS_VALID), val=str(FER_VAL), per_class=20, clean=False, votes=True, photos=[str(few_photos)]
    )
    td = prepare_training_data(replace(config, photos_repeat=3))
    assert td.report["photos"] == {str(few_photos): {"faces": len(crops), "no_face": len(missed)}}
    for key, crop in zip(crops.keys, crops.images, strict=True):
        where = [i for i, k in enumerate(td.train.keys) if k == key]
        assert len(where) == 3  # each photo face three times
        assert all(np.array_equal(td.train.images[i], crop) for i in where)  # the crop analysis would make
        assert all(np.array_equal(td.train_targets[i], np.eye(len(td.labels))[td.train_y[i]]) for i in where)
    ferplus_faces = [i for i, k in enumerate(td.train.keys) if k not in set(crops.keys)]
    assert not np.isin(td.train_targets[ferplus_faces], [0.0, 1.0]).all()  # FER+ faces keep their votes


def test_photos_can_keep_their_own_labels_while_the_other_faces_are_distilled(few_photos, tmp_path):
    config = TrainConfig(
        str(FERPLUS_VALID), val=str(FER_VAL), per_class=20, clean=False, votes=True, photos=[str(few_photos)]
    )
    td = prepare_training_data(replace(config, photos_repeat=2))
    crops, _ = largest_face_crops(few_photos, load_detector("centerface"), 48, 1)
    assert td.from_photos.sum() == 2 * len(crops) and set(np.array(td.train.keys)[td.from_photos]) == set(crops.keys)
    uniform = np.full((len(td.train), len(td.labels)), 1 / len(td.labels), dtype=np.float32)
    write_predictions(tmp_path / "uniform.npz", td.train, td.labels, uniform, ["uniform"])
    (tmp_path / "run").mkdir()
    taught = replace(config, teachers=[str(tmp_path / "uniform.npz")], teacher_weight=0.5, photos_teacher_weight=0.0)
    targets = distilled_targets(taught, td, tmp_path / "run", False, torch.device("cpu"), "fp32", rank=0)
    photo, other = td.from_photos, ~td.from_photos
    assert np.array_equal(targets[photo], td.train_targets[photo])
    assert np.allclose(targets[other], 0.5 * td.train_targets[other] + 0.5 / len(td.labels))
