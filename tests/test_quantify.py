"""Crowd shares corrected for the model's confusions (runtime.quantify), on real faces and a real ONNX model."""

import numpy as np
import pytest

from moodlens.data.faces import load_dataset
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.quantify import Confusion, adjusted_shares, corrected_shares
from moodlens.runtime.weights import resolve_onnx
from moodlens.training.data import class_index

from conftest import FERPLUS_VALID


def test_shares_that_explain_the_answers_exactly_are_found():
    rng = np.random.default_rng(1)
    confusion = rng.dirichlet(np.ones(5) * 0.5, size=5) + 2 * np.eye(5)
    confusion /= confusion.sum(axis=1, keepdims=True)
    truth = np.array([0.5, 0.3, 0.2, 0.0, 0.0])
    assert adjusted_shares(truth @ confusion, confusion) == pytest.approx(truth, abs=1e-3)


def plain_em(answers: np.ndarray, confusion: np.ndarray, steps: int) -> np.ndarray:
    shares = np.full(len(answers), 1 / len(answers))
    for _ in range(steps):
        shares = shares * (confusion @ (answers / (shares @ confusion)))
        shares /= shares.sum()
    return shares


@pytest.fixture(scope="module")
def ferplus_answers():
    """ferplus's probabilities (with flip) on FER+ validation faces, which it never trained on."""
    classifier = OnnxClassifier(resolve_onnx("ferplus"), threads=1)
    faces = load_dataset(FERPLUS_VALID, per_class=120)
    truth = class_index(faces, classifier.labels)
    return classifier.labels, classifier.predict(faces.images, tta="flip"), truth


def test_a_skewed_crowd_of_real_faces_is_read_closer_than_by_counting(ferplus_answers):
    labels, probs, truth = ferplus_answers
    rng = np.random.default_rng(0)
    calibration = np.zeros(len(truth), bool)
    calibration[rng.permutation(len(truth))[: len(truth) // 2]] = True
    confusion = Confusion.measure(labels, probs[calibration], truth[calibration])
    wanted = {"sad": 40, "neutral": 10, "fear": 20, "happy": 10, "angry": 20}  # a crowd unlike the model's data
    crowd = np.concatenate(
        [rng.choice(np.flatnonzero(~calibration & (truth == labels.index(e))), n) for e, n in wanted.items()]
    )
    true = np.bincount(truth[crowd], minlength=len(labels)) / len(crowd)
    counted = np.bincount(probs[crowd].argmax(1), minlength=len(labels)) / len(crowd)
    share, low, high = corrected_shares(probs[crowd].mean(axis=0), len(crowd), confusion)
    assert np.abs(share - true).mean() < np.abs(counted - true).mean()
    assert share.sum() == pytest.approx(1, abs=1e-3) and np.all((low <= share) & (share <= high))
    assert np.mean((low <= true) & (true <= high)) >= 0.75  # 8 shares: most intervals hold their truth


def test_where_no_exact_solution_exists_the_likelihood_s_maximum_is_found(ferplus_answers):
    labels, probs, truth = ferplus_answers
    confusion = Confusion.measure(labels, probs, truth).matrix
    rng = np.random.default_rng(2)
    checked = 0
    for size in [3, 10, 30, 100] * 5:
        answers = probs[rng.choice(len(probs), size)].mean(axis=0)
        if (answers @ np.linalg.inv(confusion)).min() >= 0:
            continue  # solved exactly
        checked += 1
        assert adjusted_shares(answers, confusion) == pytest.approx(plain_em(answers, confusion, 20_000), abs=5e-3)
    assert checked >= 10


def test_a_crowd_of_three_gets_wide_intervals_and_none_gets_no_share(ferplus_answers):
    labels, probs, truth = ferplus_answers
    confusion = Confusion.measure(labels, probs, truth)
    _, low, high = corrected_shares(probs[:3].mean(axis=0), 3, confusion)
    _, low_100, high_100 = corrected_shares(probs[:100].mean(axis=0), 100, confusion)
    assert (high - low).max() > 0.5 and (high - low).mean() > 2 * (high_100 - low_100).mean()
    nothing = corrected_shares(np.full(len(labels), np.nan), 0, confusion)
    assert all(np.isnan(part).all() for part in nothing)


def test_our_adjusted_count_is_quapy_s_where_exact_and_close_where_not(ferplus_answers):
    """QuaPy (a maintained quantification library) as the reference: its PACC, fitted on the same labelled
    faces, solves the same equation; where the exact solution has a negative share, it clips that solution
    to the simplex and we take the likelihood's maximum, so the two differ a little there."""
    from quapy.method.aggregative import PACC
    from sklearn.base import BaseEstimator, ClassifierMixin

    labels, probs, truth = ferplus_answers

    class Given(ClassifierMixin, BaseEstimator):  # the probabilities are computed: QuaPy asks for a classifier
        def __init__(self, classes: int = len(labels)):
            self.classes = classes
            self.classes_ = np.arange(classes)

        def fit(self, x, y):
            return self

    rng = np.random.default_rng(3)
    labelled = np.zeros(len(truth), bool)
    labelled[rng.permutation(len(truth))[: len(truth) // 2]] = True
    pacc = PACC(Given(), fit_classifier=False, val_split=None, solver="exact-raise")  # solved, then clipped
    pacc.aggregation_fit(probs[labelled], truth[labelled])
    confusion = pacc.Pte_cond_estim_.T  # QuaPy's confusion: rows are true classes, as ours
    exact, other = [], []
    for size in [10, 30, 100, 300] * 10:
        crowd = rng.choice(np.flatnonzero(~labelled), size)
        ours, theirs = adjusted_shares(probs[crowd].mean(axis=0), confusion), pacc.aggregate(probs[crowd])
        solvable = (probs[crowd].mean(axis=0) @ np.linalg.inv(confusion)).min() >= 0
        (exact if solvable else other).append(np.abs(ours - theirs).max())
    assert exact and max(exact) < 1e-6
    assert other and np.mean(other) < 0.03
