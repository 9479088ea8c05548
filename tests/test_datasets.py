import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from moodlens.data import faces
from moodlens.data.faces import load_dataset
from moodlens.data.labels import EMOTIONS, UnknownLabelError, canonical_label, parse_classes
from moodlens.data.readers import DatasetError

from conftest import FER_TRAIN, FER_VAL, FERPLUS_VALID, MUXSPACE


def test_folder_tree_reads_every_class_at_the_requested_size():
    data = load_dataset(FER_VAL, size=40, per_class=20)
    assert data.kind == "folders"
    assert data.images.shape == (140, 40, 40, 1) and data.images.dtype == np.uint8
    assert data.class_counts() == {name: 20 for name in EMOTIONS[:7]}
    assert all("PublicTest_" in key for key in data.keys)


def test_ferplus_majority_labels_votes_and_dropped_counts():
    with open(FERPLUS_VALID / "label.csv") as f:
        rows = list(csv.reader(f))
    votes = np.array([[int(v) for v in row[2:]] for row in rows])
    unknown = int((votes.argmax(1) == 8).sum())
    not_face = int((votes.argmax(1) == 9).sum())
    data = load_dataset(FERPLUS_VALID)
    assert data.kind == "ferplus"
    assert data.dropped == {"unknown": unknown, "NF": not_face}
    assert len(data) + len(data.skipped) == len(rows) - unknown - not_face
    assert "contempt" in data.class_counts()
    # every face's label holds the most votes (ties go to the first FER+ column)
    assert np.array_equal(data.soft[np.arange(len(data)), data.labels], data.soft.max(1))


def test_fer2013_csv_built_from_real_images(tmp_path):
    originals = sorted((FER_VAL / "happy").iterdir())[:5] + sorted((FER_VAL / "sad").iterdir())[:4]
    csv_path = tmp_path / "fer2013.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["emotion", "pixels", "Usage"])
        for i, path in enumerate(originals):
            pixels = np.asarray(Image.open(path).convert("L")).ravel()
            emotion = 3 if path.parent.name == "happy" else 4
            writer.writerow([emotion, " ".join(map(str, pixels)), "Training" if i % 3 else "PublicTest"])
    data = load_dataset(csv_path)
    assert data.kind == "fer2013-csv"
    assert data.class_counts() == {"happy": 5, "sad": 4}
    assert np.array_equal(data.images[0, :, :, 0], np.asarray(Image.open(originals[0]).convert("L")))
    public = load_dataset(f"{csv_path}#PublicTest")
    assert len(public) == 3
    with pytest.raises(DatasetError, match="no rows with Usage"):
        load_dataset(f"{csv_path}#PrivateTest")


def test_muxspace_legend_maps_synonyms_and_resizes_photos():
    data = load_dataset(MUXSPACE)
    assert data.kind == "legend"
    assert len(data) + len(data.skipped) == 801
    counts = data.class_counts()
    assert counts["contempt"] == 4 and counts["happy"] == 174
    assert data.images.shape[1:] == (48, 48, 1)


def test_second_load_comes_from_cache_without_decoding(monkeypatch):
    first = load_dataset(FER_VAL, per_class=10)

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(faces, "decode_face", refuse)
    second = load_dataset(FER_VAL, per_class=10)
    assert np.array_equal(first.images, second.images) and first.keys == second.keys


def copy_faces(src, dst, count):
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(src.iterdir())[:count]
    for path in files:
        shutil.copy(path, dst / path.name)
    return files


def test_corrupt_files_are_listed_and_skipped(tmp_path):
    copy_faces(FER_VAL / "happy", tmp_path / "happy", 6)
    copy_faces(FER_VAL / "sad", tmp_path / "sad", 6)
    good = (tmp_path / "sad" / sorted((tmp_path / "sad").iterdir())[0].name).read_bytes()
    (tmp_path / "sad" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (tmp_path / "happy" / "not-an-image.png").write_text("hello")
    data = load_dataset(tmp_path)
    skipped = {path.split("/")[-1] for path, _ in data.skipped}
    assert skipped == {"truncated.jpg", "not-an-image.png"}
    assert data.class_counts() == {"happy": 6, "sad": 6}


def test_class_folder_errors(tmp_path):
    copy_faces(FER_VAL / "happy", tmp_path / "grumpy", 2)
    with pytest.raises(UnknownLabelError, match="grumpy"):
        load_dataset(tmp_path)
    (tmp_path / "grumpy").rename(tmp_path / "happy")
    (tmp_path / "sad").mkdir()
    with pytest.raises(DatasetError, match="class folder has no images"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing")


def test_label_synonyms_and_class_lists():
    assert canonical_label("Happiness") == "happy" and canonical_label("anger") == "angry"
    assert parse_classes("sad, angry,neutral") == ["angry", "sad", "neutral"]
    with pytest.raises(UnknownLabelError):
        parse_classes("happy,bored")


def test_per_class_limit_uses_the_first_files_of_each_class():
    data = load_dataset(FER_TRAIN, per_class=3)
    assert len(data) == 21
    expected = sorted((FER_TRAIN / "angry").iterdir())[:3]
    assert data.keys[:3] == [str(p) for p in expected]
