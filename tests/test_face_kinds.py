"""A crowd is corrected as the kind of faces it is (issue 28): the shipped calibration keeps, for photos and
for FER+ lab faces, the confusion and the density of the model's answers, and a crowd's answers say which
kind it is. A grid of lab faces is corrected with the lab faces' confusion, photos with the photos'."""

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

from moodlens.data.faces import load_dataset
from moodlens.runtime.calibration import SWITCH_ODDS, Calibration
from moodlens.runtime.crowd import CrowdTally, crowd_summary
from moodlens.runtime.imaging import read_image
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.quantify import DENSITY_KEYS

from conftest import FERPLUS_VALID, MUXSPACE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from crowd_mood import grid_photo


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(threads=1)


def test_the_shipped_calibration_keeps_a_kind_for_photos_and_one_for_lab_faces(analyzer):
    kinds = analyzer.calibration.kinds
    assert [kind.name for kind in kinds] == ["photos", "ferplus_valid"]
    for kind in kinds:
        k = len(kind.confusion.labels)
        assert kind.confusion.log_mean.shape == (k, k - 1)
        assert np.all(np.linalg.eigvalsh(kind.confusion.log_covariance) > 0)  # a density, each emotion's


def test_a_grid_of_lab_faces_is_read_as_lab_faces_and_photos_as_photos(analyzer):
    labels, calibration = analyzer.labels, analyzer.calibration
    faces = load_dataset(FERPLUS_VALID, per_class=6)
    grid = crowd_summary(analyzer.analyze(grid_photo(faces.images)).faces, labels, calibration)
    assert grid.readable >= 0.9 * len(faces.images)
    assert grid.kind == "ferplus_valid" and grid.method == "corrected"
    as_photos = crowd_summary(
        analyzer.analyze(grid_photo(faces.images)).faces,
        labels,
        Calibration(calibration.temperature, calibration.kinds[:1]),
    )
    assert as_photos.kind == "photos" and as_photos.shares != grid.shares  # the kind changes the correction

    with open(MUXSPACE / "legend.csv", newline="") as f:
        names = [row["image"] for row in csv.DictReader(f)][:40]
    photos = CrowdTally(labels, calibration)
    for name in names:
        photos.add(analyzer.analyze(read_image(MUXSPACE / "images" / name)).faces)
    summary = photos.summary()
    assert summary.readable >= 35 and summary.kind == "photos"
    assert set(photos.evidence) == {"photos", "ferplus_valid"}

    lab_only = Calibration(calibration.temperature, calibration.kinds[1:])  # one kind: nothing to choose
    assert lab_only.log_evidence(np.full((3, len(labels)), 1 / len(labels))) == {}


def test_a_calibration_written_before_kinds_reads_as_one_kind_of_photos(analyzer):
    photos = analyzer.calibration.kinds[0]
    record = {"temperature": 0.9, **{k: v for k, v in photos.to_dict().items() if k not in (*DENSITY_KEYS, "name")}}
    old = Calibration.from_dict(record)  # as sessions recorded before issue 28's kinds keep it
    assert [kind.name for kind in old.kinds] == ["photos"] and old.kinds[0].confusion.log_mean is None
    assert old.log_evidence(np.full((3, len(old.labels)), 1 / len(old.labels))) == {}
    assert old.kind_of({"ferplus_valid": 0.0}) is old.kinds[0]
    assert np.array_equal(old.kinds[0].confusion.matrix, photos.confusion.matrix)


def test_a_crowd_is_taken_for_another_kind_only_when_its_answers_are_far_likelier_under_it(analyzer):
    calibration = analyzer.calibration
    odds = np.log(SWITCH_ODDS)
    assert calibration.kind_of({"photos": -10.0, "ferplus_valid": -10.0 + 0.9 * odds}).name == "photos"
    assert calibration.kind_of({"photos": -10.0, "ferplus_valid": -10.0 + 1.1 * odds}).name == "ferplus_valid"
    assert calibration.kind_of({}).name == calibration.kind_of(None).name == "photos"  # no readable face
