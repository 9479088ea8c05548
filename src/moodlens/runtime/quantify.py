"""A crowd's emotion shares corrected for the model's confusions (quantification), with intervals that hold.

Counting each face's top emotion carries every confusion of the model into the shares: a model that reads
a third of sad faces as neutral over-reports neutral in every crowd. Knowing how the model answers faces of
each true emotion (`confusion[k, j]`: the mean probability it gives emotion j on faces showing k, measured
on labelled faces it never trained on), the crowd's shares `pi` are those under which the answers seen are
most likely: E[mean answer] = pi @ confusion, solved by expectation-maximisation on the simplex (the
maximum-likelihood adjusted count; it never gives a negative share). The 95 % interval comes from a
bootstrap over the crowd's faces and, at once, over the labelled faces the confusion was measured on, so it
widens both for a small crowd and for emotions the model confuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ITERATIONS = 200
DRAWS = 200
PRIOR_FACES = 1  # how many faces' worth of belief each confusion row starts with (see Confusion.measure)


@dataclass
class Confusion:
    """How a model answers faces of each true emotion: `matrix[k]` is its mean probability vector on the
    `support[k]` labelled faces showing emotion k (PRIOR_FACES included)."""

    labels: list[str]
    matrix: np.ndarray  # (K, K), rows sum to 1
    support: np.ndarray  # (K,) labelled faces per true emotion

    @classmethod
    def measure(cls, labels: list[str], probs: np.ndarray, truth: np.ndarray) -> Confusion:
        """From the model's probabilities (N, K) on labelled faces and their true class indices (N,). Each row
        is shrunk towards the identity (the model's answer taken at its word) as if PRIOR_FACES more faces had
        been read exactly: an emotion measured on a handful of faces is corrected little, one without faces
        not at all."""
        k = len(labels)
        support = np.bincount(truth, minlength=k).astype(np.float64)
        sums = np.zeros((k, k))
        np.add.at(sums, truth, probs)
        matrix = (sums + PRIOR_FACES * np.eye(k)) / (support + PRIOR_FACES)[:, None]
        return cls(labels, matrix, support + PRIOR_FACES)


def adjusted_shares(answers: np.ndarray, confusion: np.ndarray, iterations: int = ITERATIONS) -> np.ndarray:
    """The shares (..., K) that best explain the mean answers (..., K) given the confusion (..., K, K):
    EM for mixture proportions, vectorised over any leading axes (bootstrap draws)."""
    k = answers.shape[-1]
    shares = np.full(answers.shape, 1.0 / k)
    for _ in range(iterations):
        expected = np.einsum("...k,...kj->...j", shares, confusion)  # the mean answer these shares would give
        ratio = answers / np.maximum(expected, 1e-12)
        shares = shares * np.einsum("...kj,...j->...k", confusion, ratio)
        shares /= shares.sum(axis=-1, keepdims=True)
    return shares


def corrected_shares(
    probs: np.ndarray, confusion: Confusion, draws: int = DRAWS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(share, low, high), each (K,): the crowd's corrected shares and their 95 % interval, from the
    probabilities (N, K) of its readable faces. No face: no share (NaN)."""
    k = len(confusion.labels)
    if len(probs) == 0:
        nothing = np.full(k, np.nan)
        return nothing, nothing, nothing
    share = adjusted_shares(probs.mean(axis=0), confusion.matrix)
    rng = np.random.default_rng(seed)
    faces = rng.integers(0, len(probs), size=(draws, len(probs)))
    answers = probs[faces].mean(axis=1)  # (draws, K): the crowd resampled
    matrices = resampled_confusion(confusion, draws, rng)  # (draws, K, K): the labelled faces resampled
    low, high = np.percentile(adjusted_shares(answers, matrices), [2.5, 97.5], axis=0)
    # to the precision every share is reported at (EM only comes near a share of 0, never onto it)
    return share.round(4), np.minimum(low, share).round(4), np.maximum(high, share).round(4)


def resampled_confusion(confusion: Confusion, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Confusion matrices as they might have been measured on other labelled faces: each row drawn from a
    Dirichlet around the measured one, as concentrated as its support (a row of 30 faces varies more than one
    of 3,000)."""
    rows = []
    for row, n in zip(confusion.matrix, confusion.support, strict=True):
        rows.append(rng.dirichlet(row * n + 1e-3, size=draws))
    return np.stack(rows, axis=1)
