"""`moodlens calibrate`: fit an exported model's calibration on labelled faces it never trained on, and
write it beside the model (runtime.calibration), with how calibrated its scores were before and after."""

from __future__ import annotations

import functools
import operator
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moodlens.data.faces import load_dataset
from moodlens.data.photo_faces import largest_face_crops
from moodlens.data.readers import DatasetError
from moodlens.runtime.calibration import (
    FIRST_KIND,
    Calibration,
    FaceKind,
    calibration_path,
    ece,
    fit_temperature,
    nll,
    tempered,
)
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.detection import load_detector
from moodlens.runtime.quantify import Confusion
from moodlens.training.data import class_index, vote_distribution


@dataclass
class Answers:
    """A model's raw probabilities (with flip) on labelled faces, their true emotions and, for FER+, the
    annotators' vote distributions over the model's emotions."""

    labels: list[str]
    probs: np.ndarray  # (N, K)
    truth: np.ndarray  # (N,)
    votes: np.ndarray | None = None  # (N, K)

    def __add__(self, other: Answers) -> Answers:
        votes = None if self.votes is None or other.votes is None else np.concatenate([self.votes, other.votes])
        joined = (np.concatenate([a, b]) for a, b in ((self.probs, other.probs), (self.truth, other.truth)))
        return Answers(self.labels, *joined, votes)

    @property
    def targets(self) -> np.ndarray:
        """What the probabilities should predict: the votes where there are any, else the true emotion."""
        return self.votes if self.votes is not None else np.eye(len(self.labels))[self.truth]


def held_out_answers(model: str | os.PathLike, data: str | os.PathLike, detect: str | None = None) -> Answers:
    """The model's raw answers on the labelled faces at `data` (with `detect`, uncropped photos: the largest
    face found in each), leaving out emotions the model does not know."""
    classifier = OnnxClassifier(model, calibrated=False)
    size, channels = classifier.image_size, classifier.channels
    if detect:
        faces, _ = largest_face_crops(data, load_detector(detect), size, channels)
    else:
        faces = load_dataset(data, size, channels)
    truth = class_index(faces, classifier.labels)
    faces, truth = faces.select(np.flatnonzero(truth >= 0)), truth[truth >= 0]
    if not len(truth):
        raise DatasetError(f"{data}: none of its faces shows an emotion the model knows ({classifier.labels})")
    votes = vote_distribution(faces, classifier.labels)
    return Answers(classifier.labels, classifier.predict(faces.images, tta="flip"), truth, votes)


def scores(answers: Answers, calibration: Calibration) -> dict:
    """ECE and NLL (against the true emotion, and against the votes where there are any) before and after."""
    out = {"faces": len(answers.truth)}
    one_hot = np.eye(len(answers.labels))[answers.truth]
    for when, probs in (("before", answers.probs), ("after", calibration.apply(answers.probs))):
        out[when] = {"ece": round(ece(probs, answers.truth), 4), "nll": round(nll(probs, one_hot), 4)}
        if answers.votes is not None:
            out[when]["nll_votes"] = round(nll(probs, answers.votes), 4)
    return out


def fit(photos: Answers, others: dict[str, Answers], measured_on: str) -> tuple[Calibration, dict]:
    """The temperature fitted on the photos and the other held-out faces together, kept at 1 where it
    would make the scores less calibrated (ECE) on any of them; a kind of faces for the photos (first: what a
    crowd is corrected as when its faces cannot tell) and one for each other set, each with its confusion.
    Returns the calibration and its scores on each set."""
    sets = {FIRST_KIND: photos, **others}
    described = {FIRST_KIND: measured_on} | {
        name: f"{len(answers.truth)} faces of {name}" for name, answers in others.items()
    }
    temperature = fit_temperature([(answers.probs, answers.targets) for answers in sets.values()])
    for tried in (temperature, 1.0):
        kinds = [
            FaceKind(name, described[name], Confusion.measure(a.labels, tempered(a.probs, tried), a.truth))
            for name, a in sets.items()
        ]
        calibration = Calibration(tried, kinds)
        report = {name: scores(answers, calibration) for name, answers in sets.items()}
        if all(r["after"]["ece"] <= r["before"]["ece"] for r in report.values()):
            break
    return calibration, report


def calibrate(
    model: str | os.PathLike,
    photos: list[str],
    faces: list[str] = (),
    detect: str = "centerface",
    out: Path | None = None,
) -> dict:
    """Calibrate `model` (an .onnx) on labelled photos it never trained on (uncropped, their largest face
    found by `detect`; pooled) and, for the temperature, on cropped faces; write the calibration beside the
    model unless `out`, and report its temperature and scores."""
    pooled = functools.reduce(operator.add, [held_out_answers(model, path, detect) for path in photos])
    others = {str(path): held_out_answers(model, path) for path in faces}
    calibration, report = fit(pooled, others, measured_on=", ".join(map(str, photos)))
    target = out or calibration_path(model)
    calibration.save(target)
    return {"calibration": str(target), "temperature": calibration.temperature, "scores": report}
