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


@dataclass
class Confusion:
    """How a model answers faces of each true emotion: `matrix[k]` is its mean probability vector on the
    `support[k]` labelled faces showing emotion k (PRIOR_FACES included)."""

    labels: list[str]
    matrix: np.ndarray  # (K, K), rows sum to 1
    support: np.ndarray  # (K,) labelled faces per true emotion
    spread: np.ndarray  # (K, K, K): spread[k], the covariance of the answers on faces showing k

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
        return cls(labels, matrix, support.astype(np.float64), spread)

    def to_dict(self) -> dict:
        return {
            "labels": self.labels,
            "support": self.support.round(3).tolist(),
            "confusion": self.matrix.round(6).tolist(),
            "spread": self.spread.round(7).tolist(),
        }

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
        return cls(list(record["labels"]), *arrays)


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
