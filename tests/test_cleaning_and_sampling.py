import shutil

import numpy as np
from PIL import Image

from moodlens.data.cleaning import inspect
from moodlens.data.faces import load_dataset
from moodlens.data.labels import EMOTIONS
from moodlens.data.sampling import class_weights, oversampled_order, stratified_split, synthesize_minorities

from conftest import FER_TRAIN, FER_VAL, FERPLUS_VALID


def test_duplicates_conflicts_blanks_and_leaks(tmp_path):
    happy = sorted((FER_VAL / "happy").iterdir())[:5]
    sad = sorted((FER_VAL / "sad").iterdir())[:5]
    for folder, files in (("happy", happy), ("sad", sad)):
        (tmp_path / "train" / folder).mkdir(parents=True)
        for path in files:
            shutil.copy(path, tmp_path / "train" / folder / path.name)
    shutil.copy(happy[0], tmp_path / "train" / "happy" / "copy-of-first.jpg")  # same label: a plain duplicate
    shutil.copy(happy[1], tmp_path / "train" / "sad" / "conflict.jpg")  # same bytes labelled sad
    Image.new("L", (48, 48), 0).save(tmp_path / "train" / "sad" / "blank.png")
    data = load_dataset(tmp_path / "train")
    (tmp_path / "val" / "sad").mkdir(parents=True)
    for path in sad:  # a validation split that shares the five sad faces with training
        shutil.copy(path, tmp_path / "val" / "sad" / path.name)
    val = load_dataset(tmp_path / "val")
    _, report = inspect(data, None)
    assert (report.duplicate_groups, report.duplicate_copies, report.conflicting_groups) == (2, 2, 1)
    assert report.blank == 1 and report.removed == 0
    cleaned, report = inspect(data, val, remove=True)
    assert report.leaked_into_val == 5
    # left: happy 0, 2, 3, 4 (copy of 0 and both members of the conflicting pair dropped); no sad
    assert cleaned.class_counts() == {"happy": 4}
    assert report.conflicting_examples[0]["labels"] == ["happy", "sad"]


def test_stratified_split_keeps_class_shares():
    labels = np.array([0] * 100 + [1] * 30 + [2] * 10)
    train, val = stratified_split(labels, 0.2, seed=1)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 140
    assert np.bincount(labels[val]).tolist() == [20, 6, 2]
    again, _ = stratified_split(labels, 0.2, seed=1)
    assert np.array_equal(train, again)


def test_balancing_modes_even_out_classes():
    data = load_dataset(FER_VAL, per_class=60)
    data = data.select(np.flatnonzero(data.labels != EMOTIONS.index("disgust")))
    data = data.select(np.concatenate([np.flatnonzero(data.labels == c)[: 10 + 10 * c] for c in range(7)]))
    counts = np.bincount(data.labels, minlength=8)
    order = oversampled_order(data.labels, np.random.default_rng(0))
    assert set(np.bincount(data.labels[order], minlength=8)[counts > 0]) == {counts.max()}
    weights = class_weights(data.labels, 8)
    assert np.isclose((weights[data.labels]).mean(), 1.0)
    assert np.isclose(weights[0] / weights[6], counts[6] / counts[0])
    milder = class_weights(data.labels, 8, power=0.5)
    assert np.isclose((milder[data.labels]).mean(), 1.0)
    assert np.isclose(milder[0] / milder[6], np.sqrt(counts[6] / counts[0])) and milder[7] == 0
    synthetic = synthesize_minorities(data, seed=0)
    assert set(synthetic.class_counts().values()) == {counts.max()}
    added = synthetic.images[len(data) :]
    assert added.shape[1:] == data.images.shape[1:] and added.dtype == np.uint8
    # the new faces are altered copies, not byte-identical ones
    assert not any(np.array_equal(added[0], image) for image in data.images)


def test_blurred_training_split_is_flagged():
    # ../shared's FER-2013 training split is blurred; its PublicTest split and FER+ are sharp
    _, report = inspect(load_dataset(FER_TRAIN, per_class=50), load_dataset(FER_VAL, per_class=50))
    assert report.val_sharpness > 10 * report.sharpness
    assert report.warnings and "blurrier" in report.warnings[0]
    _, report = inspect(load_dataset(FER_VAL, per_class=50), load_dataset(FERPLUS_VALID, per_class=50))
    assert report.warnings == []


def test_reencoded_validation_faces_count_as_leaks(tmp_path):
    sad = sorted((FER_VAL / "sad").iterdir())[:6]
    (tmp_path / "train" / "sad").mkdir(parents=True)
    for path in sad[:4]:  # the same photos, re-encoded as PNG: not byte-identical
        Image.open(path).save(tmp_path / "train" / "sad" / f"{path.stem}.png")
    for path in sad[4:]:
        shutil.copy(path, tmp_path / "train" / "sad" / path.name)
    (tmp_path / "val" / "sad").mkdir(parents=True)
    for path in sad[:3]:
        shutil.copy(path, tmp_path / "val" / "sad" / path.name)
    cleaned, report = inspect(load_dataset(tmp_path / "train"), load_dataset(tmp_path / "val"), remove=True)
    assert (report.leaked_into_val, report.near_leaked_into_val) == (0, 3)
    assert sorted(key.split("/")[-1] for key in cleaned.keys) == sorted(
        [sad[3].stem + ".png", sad[4].name, sad[5].name]
    )
