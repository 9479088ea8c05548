"""A model's calibration, measured on labelled faces it never trained on and kept beside the model as
`<model>.calibration.json`: a temperature that makes its probabilities mean what they say, and the
confusion a crowd's shares are corrected with (runtime.quantify).

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


@dataclass
class Calibration:
    temperature: float
    confusion: Confusion  # measured on the calibrated probabilities
    measured_on: str  # the labelled faces, in words

    @property
    def labels(self) -> list[str]:
        return self.confusion.labels

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return tempered(probs, self.temperature)

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "measured_on": self.measured_on, **self.confusion.to_dict()}

    @classmethod
    def from_dict(cls, record: dict) -> Calibration:
        return cls(record["temperature"], Confusion.from_dict(record), record["measured_on"])

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
