"""A crowd's emotion shares corrected for the model's confusions (quantification), with intervals that hold.

Counting each face's top emotion carries every confusion of the model into the shares: a model that reads
a third of sad faces as neutral over-reports neutral in every crowd. Knowing how the model answers faces of
each true emotion (`confusion[k, j]`: the mean probability it gives emotion j on faces showing k, measured
on labelled faces it never trained on), the crowd's shares `pi` are those under which the answers seen are
most likely: E[mean answer] = pi @ confusion. Where that equation has a solution on the simplex it is the
answer (the probabilistic adjusted count); where it has none (a share would come out negative), the
maximum-likelihood shares are found by expectation-maximisation, which never leaves the simplex. Only the
crowd's mean answer and its number of faces are needed, so a recorded session's score sums are enough.

The 95 % interval is a parametric bootstrap of what is uncertain about *these* faces' shares: how the
model happened to read them (the mean answer of n faces varies around pi @ confusion with the answers'
within-emotion spread, also measured, divided by n) and how well the confusion is known (each row redrawn
as if measured on other labelled faces as many as it was). Each draw moves the shares by the linearised
solution (d_pi = (d_answer - pi @ d_confusion) @ confusion^-1), kept on the simplex. The draws are fixed
per confusion (the same crowd always gets the same interval) and cost well under a millisecond.

A model reads some kinds of faces differently from others (grey 48-px lab faces: their disgust as anger far
more often than a photo's), and a confusion measured on one kind corrects crowds of another badly (issue 28,
benchmarks/confusion_transfer.py). So a confusion also keeps the density of the answers on each emotion's
faces (a Gaussian of the centred log-probabilities), and a crowd is corrected with the confusion of the kind
of faces under which its answers are most likely (runtime.calibration.Calibration.kind_of). Each face's
log-likelihood under a kind (`log_evidence`, the emotions weighed equally) adds up over faces, so a recorded
session's steps can keep its sum as they keep their score sums.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

CYCLES = 30  # SQUAREM cycles of 3 EM steps each, at most
TOLERANCE = 1e-6
DRAWS = 400
SEED = 0
PRIOR_FACES = 1  # how many faces' worth of belief each confusion row starts with (see Confusion.measure)
LOG_FLOOR = 1e-5  # scores are reported to 6 decimals: a probability below this says nothing more in its log
# How many faces' worth the answers' covariance over all emotions weighs in each emotion's (a handful of
# faces of an emotion cannot measure a 7 x 7 covariance alone), and a ridge that keeps it invertible: chosen
# by how often crowds of 10 and 30 FER+ faces and out-of-fold photos are told apart, each density measured on
# the other half (benchmarks/kind_density.py, benchmarks/results/kind_density.json).
SHRINK_FACES = 1.0
RIDGE = 0.01
DENSITY_KEYS = ("log_mean", "log_covariance")


@dataclass
class Confusion:
    """How a model answers faces of each true emotion: `matrix[k]` is its mean probability vector on the
    `support[k]` labelled faces showing emotion k (PRIOR_FACES included)."""

    labels: list[str]
    matrix: np.ndarray  # (K, K), rows sum to 1
    support: np.ndarray  # (K,) labelled faces per true emotion
    spread: np.ndarray  # (K, K, K): spread[k], the covariance of the answers on faces showing k
    log_mean: np.ndarray | None = None  # (K, K-1): the mean of log_answers on faces showing k
    log_covariance: np.ndarray | None = None  # (K, K-1, K-1): their covariance (None: measured before issue 28's kinds)

    @classmethod
    def measure(cls, labels: list[str], probs: np.ndarray, truth: np.ndarray) -> Confusion:
        """From the model's probabilities (N, K) on labelled faces and their true class indices (N,). Each row
        is shrunk towards the identity (the model's answer taken at its word) as if PRIOR_FACES more faces had
        been read exactly: an emotion measured on a handful of faces is corrected little, one without faces
        not at all."""
        k, probs = len(labels), probs.astype(np.float64)
        support = np.bincount(truth, minlength=k) + PRIOR_FACES
        sums, squares = PRIOR_FACES * np.eye(k), PRIOR_FACES * np.einsum("ki,kj->kij", np.eye(k), np.eye(k))
        np.add.at(sums, truth, probs)
        np.add.at(squares, truth, np.einsum("ni,nj->nij", probs, probs))
        matrix = sums / support[:, None]
        spread = squares / support[:, None, None] - np.einsum("ki,kj->kij", matrix, matrix)
        return cls(labels, matrix, support.astype(np.float64), spread, *answer_density(probs, truth, k))

    def to_dict(self) -> dict:
        record = {
            "labels": self.labels,
            "support": self.support.round(3).tolist(),
            "confusion": self.matrix.round(6).tolist(),
            "spread": self.spread.round(7).tolist(),
        }
        if self.log_mean is not None:
            record["log_mean"] = self.log_mean.round(5).tolist()
            record["log_covariance"] = self.log_covariance.round(6).tolist()
        return record

    @functools.cached_property
    def inverse(self) -> np.ndarray:
        return np.linalg.inv(self.matrix)

    @functools.cached_property
    def deviations(self) -> np.ndarray:
        """(DRAWS, K, K): how far confusions measured on other labelled faces would be from this one."""
        return resampled_confusion(self, DRAWS, np.random.default_rng(SEED)) - self.matrix

    @classmethod
    def from_dict(cls, record: dict) -> Confusion:
        arrays = (np.array(record[key], np.float64) for key in ("confusion", "support", "spread"))
        density = (np.array(record[key], np.float64) if key in record else None for key in DENSITY_KEYS)
        return cls(list(record["labels"]), *arrays, *density)

    @functools.cached_property
    def log_normaliser(self) -> tuple[np.ndarray, np.ndarray]:
        """(K, K-1, K-1) inverse covariances and (K,) log normalising constants of the answer densities."""
        _, log_det = np.linalg.slogdet(self.log_covariance)
        dims = self.log_mean.shape[1]
        return np.linalg.inv(self.log_covariance), -0.5 * (log_det + dims * np.log(2 * np.pi))

    def log_evidence(self, probs: np.ndarray) -> np.ndarray:
        """(N,): the log-likelihood of each face's answer (N, K) among faces of this kind, every emotion taken
        as likely as any other (so that it adds up over a crowd whatever the crowd's shares)."""
        inverse, constant = self.log_normaliser
        offsets = log_answers(probs)[:, None, :] - self.log_mean[None]  # (N, K, K-1)
        per_emotion = constant - 0.5 * np.einsum("nki,kij,nkj->nk", offsets, inverse, offsets)
        top = per_emotion.max(axis=1)
        return top + np.log(np.exp(per_emotion - top[:, None]).mean(axis=1))


def log_answers(probs: np.ndarray) -> np.ndarray:
    """(N, K-1): the answers' log-probabilities less their mean, the last dropped (they add up to 0)."""
    logs = np.log(np.maximum(probs, LOG_FLOOR))
    return (logs - logs.mean(axis=1, keepdims=True))[:, :-1]


def answer_density(
    probs: np.ndarray, truth: np.ndarray, k: int, shrink: float = SHRINK_FACES, ridge: float = RIDGE
) -> tuple[np.ndarray, np.ndarray]:
    """Each emotion's mean (K, K-1) and covariance (K, K-1, K-1) of log_answers, the covariance shrunk
    towards that of all faces (plus `ridge`) by `shrink` faces' worth (an emotion without faces gets all
    faces' own)."""
    answers = log_answers(probs)
    pooled = np.cov(answers.T, bias=True) + ridge * np.eye(k - 1)
    means, covariances = np.empty((k, k - 1)), np.empty((k, k - 1, k - 1))
    for emotion in range(k):
        own = answers[truth == emotion]
        if not len(own):
            means[emotion], covariances[emotion] = answers.mean(axis=0), pooled
            continue
        weight = len(own) / (len(own) + shrink)
        means[emotion] = own.mean(axis=0)
        covariances[emotion] = weight * np.cov(own.T, bias=True).reshape(k - 1, k - 1) + (1 - weight) * pooled
    return means, covariances


def adjusted_shares(answers: np.ndarray, confusion: np.ndarray, cycles: int = CYCLES) -> np.ndarray:
    """The shares (K,) that best explain the mean answer (K,) given the confusion (K, K)."""
    exact = answers @ np.linalg.inv(confusion)
    if exact.min() >= 0:
        return exact / exact.sum()

    def em_step(shares: np.ndarray) -> np.ndarray:  # EM for mixture proportions: never leaves the simplex
        shares = shares * (confusion @ (answers / np.maximum(shares @ confusion, 1e-12)))
        return shares / shares.sum()

    # EM crawls towards a share of 0; SQUAREM (Varadhan and Roland, 2008) extrapolates two EM steps at a
    # time and gets there in a tenth of the steps (checked against 20,000 plain EM steps in tests)
    shares = np.full(answers.shape, 1.0 / len(answers))
    for _ in range(cycles):
        once = em_step(shares)
        r = once - shares
        if np.abs(r).max() < TOLERANCE:  # far below the 4 decimals a share is reported with
            return once
        v = em_step(once) - once - r
        if not v.any():  # the steps went straight: no extrapolation to make
            return once
        alpha = min(-np.sqrt((r @ r) / (v @ v)), -1.0)
        jumped = np.maximum(shares - 2 * alpha * r + alpha * alpha * v, 1e-12)
        shares = em_step(jumped / jumped.sum())
    return shares


def corrected_shares(
    mean_answer: np.ndarray, faces: float, confusion: Confusion
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(share, low, high), each (K,): the corrected shares of a crowd of `faces` readable faces whose mean
    probability vector is `mean_answer` (K,), and their 95 % interval. No face: no share (NaN)."""
    k = len(confusion.labels)
    if faces <= 0:
        nothing = np.full(k, np.nan)
        return nothing, nothing, nothing
    share = adjusted_shares(mean_answer, confusion.matrix)
    reading = np.einsum("k,kij->ij", share, confusion.spread) / faces  # the mean answer's covariance
    values, vectors = np.linalg.eigh(reading)
    noise = standard_normal(k) @ (vectors * np.sqrt(np.maximum(values, 0.0))).T  # (DRAWS, K)
    moved = noise - np.einsum("k,dkj->dj", share, confusion.deviations)
    draws = np.maximum(share + moved @ confusion.inverse, 0.0)
    draws /= np.maximum(draws.sum(axis=1, keepdims=True), 1e-12)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    # to the precision every share is reported at
    return share.round(4), np.minimum(low, share).round(4), np.maximum(high, share).round(4)


@functools.cache
def standard_normal(k: int) -> np.ndarray:
    return np.random.default_rng(SEED + 1).standard_normal((DRAWS, k))


def resampled_confusion(confusion: Confusion, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Confusion matrices as they might have been measured on other labelled faces: each row drawn from a
    Dirichlet around the measured one, as concentrated as its support (a row of 30 faces varies more than one
    of 3,000)."""
    rows = []
    for row, n in zip(confusion.matrix, confusion.support, strict=True):
        rows.append(rng.dirichlet(row * n + 1e-3, size=draws))
    return np.stack(rows, axis=1)
