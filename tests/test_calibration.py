"""A model's calibration (runtime.calibration): fitted on held-out faces, kept beside the model, applied to
every score, and refused in one line when it is not the model's."""

import csv
import json
import shutil

import numpy as np
import pytest

from moodlens.data.faces import load_dataset
from moodlens.runtime.calibration import Calibration, calibration_path, ece, fit_temperature, nll, tempered
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.weights import resolve_onnx
from moodlens.training.data import class_index

from conftest import FERPLUS_VALID, MUXSPACE, SELFIE, run_cli


@pytest.fixture(scope="module")
def raw_answers():
    classifier = OnnxClassifier(resolve_onnx("ferplus"), threads=1, calibrated=False)
    faces = load_dataset(FERPLUS_VALID, per_class=80)
    return classifier.predict(faces.images, tta="flip"), class_index(faces, classifier.labels)


@pytest.mark.parametrize("temperature", [0.6, 1.7])
def test_the_fitted_temperature_is_the_one_the_answers_were_drawn_with(raw_answers, temperature):
    probs, _ = raw_answers
    rng = np.random.default_rng(0)
    truth_probs = tempered(probs, temperature)  # a world in which the model is off by this temperature
    drawn = [rng.choice(probs.shape[1], p=p / p.sum()) for p in truth_probs.astype(np.float64) for _ in range(8)]
    fitted = fit_temperature([(np.repeat(probs, 8, axis=0), np.eye(probs.shape[1])[drawn])])
    assert fitted == pytest.approx(temperature, rel=0.1)


def test_calibrated_scores_keep_the_top_emotion_and_measure_better(raw_answers):
    probs, truth = raw_answers
    targets = np.eye(probs.shape[1])[truth]
    temperature = fit_temperature([(probs, targets)])
    calibrated = tempered(probs, temperature)
    assert np.array_equal(calibrated.argmax(axis=1), probs.argmax(axis=1))
    assert np.allclose(calibrated.sum(axis=1), 1, atol=1e-5)
    assert nll(calibrated, targets) <= nll(probs, targets)
    assert ece(calibrated, truth) < ece(probs, truth)


def test_the_shipped_models_apply_their_calibration_to_every_score():
    calibrated, raw = Analyzer(threads=1), Analyzer(threads=1)
    raw.classifier.calibration = None
    faces, raw_faces = calibrated.analyze(SELFIE).faces, raw.analyze(SELFIE).faces
    temperature = calibrated.calibration.temperature
    for face, raw_face in zip(faces, raw_faces, strict=True):
        expected = tempered(np.array([list(raw_face.scores.values())]), temperature)[0]
        assert list(face.scores.values()) == pytest.approx(expected, abs=1e-5)
        assert face.emotion == raw_face.emotion


def few_photos(folder, per_emotion: int = 12):
    """A legend set of the first photos of each emotion of the muxspace sample (read in place)."""
    folder.mkdir()
    (folder / "images").symlink_to(MUXSPACE / "images")
    with open(MUXSPACE / "legend.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kept, seen = [], {}
    for row in rows:
        seen[row["emotion"].lower()] = seen.get(row["emotion"].lower(), 0) + 1
        if seen[row["emotion"].lower()] <= per_emotion:
            kept.append(row)
    with open(folder / "legend.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return folder


def few_faces(folder, faces: int = 300):
    """The first FER+ validation faces as a data set of their own (read in place)."""
    folder.mkdir()
    rows = (FERPLUS_VALID / "label.csv").read_text().splitlines()[:faces]
    (folder / "label.csv").write_text("\n".join(rows) + "\n")
    for row in rows:
        name = row.split(",")[0]
        (folder / name).symlink_to(FERPLUS_VALID / name)
    return folder


def test_moodlens_calibrate_writes_the_calibration_analysis_then_uses(tmp_path):
    model = tmp_path / "mine.onnx"
    shutil.copyfile(resolve_onnx("ferplus"), model)
    photos, lab = few_photos(tmp_path / "photos"), few_faces(tmp_path / "lab")
    result = run_cli("calibrate", model, "--photos", photos, "--faces", lab)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert report["calibration"] == str(calibration_path(model)) and calibration_path(model).is_file()
    scores = report["scores"]["photos"]
    assert scores["faces"] > 60 and scores["after"]["ece"] <= scores["before"]["ece"]
    calibration = Analyzer(model, threads=1).calibration
    assert calibration.temperature == report["temperature"]
    assert calibration.kinds[0].confusion.support.sum() == pytest.approx(scores["faces"] + len(calibration.labels))
    assert np.allclose(calibration.kinds[0].confusion.matrix.sum(axis=1), 1, atol=1e-5)
    assert [kind.name for kind in calibration.kinds] == ["photos", str(lab)]  # each --faces set a kind
    assert calibration.kinds[1].confusion.support.sum() == pytest.approx(
        report["scores"][str(lab)]["faces"] + len(calibration.labels)
    )
    assert set(calibration.log_evidence(calibration.kinds[1].confusion.matrix)) == {"photos", str(lab)}

    record = json.loads(calibration_path(model).read_text())
    record["kinds"][0]["labels"] = record["kinds"][0]["labels"][::-1]
    calibration_path(model).write_text(json.dumps(record))
    with pytest.raises(MoodlensError, match="its emotions are not the model's"):
        OnnxClassifier(model)
    calibration_path(model).write_text("{not json")
    with pytest.raises(MoodlensError, match="not a calibration file"):
        Calibration.load(calibration_path(model))
    result = run_cli("analyze", SELFIE, "--model", model)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "not a calibration file" in result.stderr
