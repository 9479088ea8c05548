"""A model's calibration, measured on labelled faces it never trained on and kept beside the model as
`<model>.calibration.json`: a temperature that makes its probabilities mean what they say, and, for each kind
of faces it was measured on (photos first), the confusion a crowd's shares are corrected with
(runtime.quantify).

The temperature acts on the model's final probabilities (after flip averaging): p -> p ** (1 / T),
renormalised. It never changes a face's top emotion, only how sure the scores say the model is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.files import write_atomic
from moodlens.runtime.quantify import Confusion

SUFFIX = ".calibration.json"
TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(4.0), 401))  # the grid a temperature is fitted on
ECE_BINS = 15
FIRST_KIND = "photos"  # the name of the kind a calibration written before issue 28's kinds was measured on
# How many times likelier a crowd's answers must be under another kind of faces than under the first for it to
# be corrected as that kind: prior odds of 1 to 1,000 that a crowd is not of the kind the model is mostly used
# on. benchmarks/crowd_kinds.py: at even odds 24 of 60 WIDER crowd photos (1 to 9 readable faces) were taken
# for lab faces; the likeliest led by 4.59 nats, under ln 1,000 = 6.91 with room to spare. Chosen on those
# photos (session 16); default's photo crowds of 30 or more are corrected as photos at either odds.
SWITCH_ODDS = 1000.0


@dataclass
class FaceKind:
    """Faces of one kind the model was calibrated on (photos, lab faces) and how it answers them."""

    name: str
    measured_on: str  # the labelled faces, in words
    confusion: Confusion  # measured on the calibrated probabilities

    def to_dict(self) -> dict:
        return {"name": self.name, "measured_on": self.measured_on, **self.confusion.to_dict()}

    @classmethod
    def from_dict(cls, record: dict) -> FaceKind:
        return cls(record.get("name", FIRST_KIND), record["measured_on"], Confusion.from_dict(record))


@dataclass
class Calibration:
    temperature: float
    kinds: list[FaceKind]  # the first is the one a crowd is corrected as when its faces cannot tell

    @property
    def labels(self) -> list[str]:
        return self.kinds[0].confusion.labels

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return tempered(probs, self.temperature)

    def log_evidence(self, probs: np.ndarray) -> dict[str, float]:
        """{kind: the summed log-likelihood of these calibrated answers (N, K) among its faces}; empty where
        there is nothing to choose (one kind, or a calibration without answer densities)."""
        told = [kind for kind in self.kinds if kind.confusion.log_mean is not None]
        if len(told) < 2 or not len(probs):
            return {}
        return {kind.name: float(kind.confusion.log_evidence(probs).sum()) for kind in told}

    def kind_of(self, evidence: dict[str, float] | None) -> FaceKind:
        """The kind of faces under which a crowd's answers are most likely (its summed `log_evidence`), where
        they are SWITCH_ODDS times likelier under it than under the first kind; else the first."""
        first, *others = self.kinds
        if not evidence or not others:
            return first
        best = max(others, key=lambda kind: evidence.get(kind.name, -np.inf))
        lead = evidence.get(best.name, -np.inf) - evidence.get(first.name, -np.inf)
        return best if lead > np.log(SWITCH_ODDS) else first

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "kinds": [kind.to_dict() for kind in self.kinds]}

    @classmethod
    def from_dict(cls, record: dict) -> Calibration:
        kinds = record.get("kinds", [record])  # [record]: one kind, as written before issue 28's kinds
        return cls(record["temperature"], [FaceKind.from_dict(kind) for kind in kinds])

    def save(self, path: str | os.PathLike) -> None:
        write_atomic(Path(path), json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise MoodlensError(f"{path}: not a calibration file written by moodlens ({e})") from e


def calibration_path(model: str | os.PathLike) -> Path:
    """Where the calibration of the model file `model` (an .onnx) lies."""
    return Path(model).with_suffix(SUFFIX)


def tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    logp = np.log(np.maximum(probs, 1e-12)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    out = np.exp(logp)
    return (out / out.sum(axis=-1, keepdims=True)).astype(probs.dtype)


def nll(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy of the probabilities (N, K) against target distributions (N, K): one-hot labels
    or annotators' votes."""
    return float(-(targets * np.log(np.maximum(probs, 1e-12))).sum(axis=1).mean())


def ece(probs: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: how far the top emotion's probability is from how often it is right,
    averaged over equal-width confidence bins weighted by their faces."""
    confidence, right = probs.max(axis=1), probs.argmax(axis=1) == truth
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(index):
        members = index == b
        total += members.sum() * abs(confidence[members].mean() - right[members].mean())
    return float(total / len(truth))


def fit_temperature(sets: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """The temperature on the grid TEMPERATURES (a 0.7 % step) of least NLL, averaged over the sets of
    (probabilities (N, K), targets (N, K)) with equal weight: a few hundred photos count as much as
    thousands of lab faces."""
    losses = [np.mean([nll(tempered(probs, t), targets) for probs, targets in sets]) for t in TEMPERATURES]
    return round(float(TEMPERATURES[int(np.argmin(losses))]), 4)
