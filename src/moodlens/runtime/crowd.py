"""A crowd's mood, summarised the same way for a photo, a video frame, a folder of photos and a recorded
session's bucket: faces found and read, the top-emotion counts as the model answered, and each emotion's
share of the readable faces with a 95 % interval.

Where the model comes with a calibration (runtime.calibration), the shares are corrected for its
confusions (runtime.quantify): `shares` is that estimate, `counts` stays the raw count beside it, `kind`
names the kind of faces whose confusion corrected it (the one under which the crowd's answers are most
likely). A model without one gets the counted shares with Wilson intervals (`method` says which).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from moodlens.runtime.calibration import Calibration
from moodlens.runtime.quantify import corrected_shares
from moodlens.runtime.results import Face

POSITIVE = ("happy",)  # what counts as a positive face in `positive_share`
Z95 = 1.959964  # the standard normal quantile of a two-sided 95 % interval
CORRECTED, COUNTED = "corrected", "counted"


@dataclass
class Share:
    share: float | None  # None: no readable face
    low: float | None
    high: float | None


@dataclass
class CrowdSummary:
    faces: int | float  # found (in a session's bucket: per step, added over recorders, so not whole)
    readable: int | float  # wide enough to read
    counts: dict[str, int]  # readable faces per top emotion, as the model answered
    shares: dict[str, Share]  # each emotion's share of the readable faces (see `method`) and 95 % interval
    mean_scores: dict[str, float | None]  # the mean probability per emotion over the readable faces
    dominant: str | None  # the emotion of the largest share
    positive_share: float | None  # the share of POSITIVE emotions
    method: str  # CORRECTED for the model's confusions, or COUNTED (the model has no calibration)
    kind: str | None  # CORRECTED: the kind of faces (runtime.calibration.FaceKind) whose confusion was used
    lines: list[str]  # the summary in words, as the console, the pictures and the page show it

    def to_dict(self) -> dict:
        """As JSON holds it (dataclasses.asdict, by hand: it deep-copies, and a long timeline has thousands)."""
        record = dict(vars(self))
        record.update(
            counts=dict(self.counts),
            shares={label: vars(share).copy() for label, share in self.shares.items()},
            mean_scores=dict(self.mean_scores),
            lines=list(self.lines),
        )
        return record


def summarize(
    labels: list[str],
    faces: float,
    readable: float,
    counts: dict[str, int],
    score_sums: dict[str, float],
    calibration: Calibration | None,
    sample: float | None = None,
    evidence: dict[str, float] | None = None,
) -> CrowdSummary:
    """The summary of `readable` faces (out of `faces`) with these top-emotion counts and probability sums.
    `sample`: how many different faces they are, if fewer (a session reads the same people at every step);
    `evidence`: their summed log-likelihood under each kind of faces (Calibration.log_evidence)."""
    n = readable if sample is None else sample
    kind = calibration.kind_of(evidence) if calibration else None
    if not readable:
        shares = dict.fromkeys(labels, Share(None, None, None))
    elif calibration is None:
        shares = {
            label: Share(round(counts[label] / readable, 4), *wilson_interval(counts[label] / readable, n))
            for label in labels
        }
    else:
        mean = np.array([score_sums[label] / readable for label in labels])
        estimate = zip(*corrected_shares(mean, n, kind.confusion), strict=True)
        shares = {label: Share(*map(float, values)) for label, values in zip(labels, estimate, strict=True)}
    read = bool(readable)
    summary = CrowdSummary(
        faces=faces,
        readable=readable,
        counts={label: counts[label] for label in labels},
        shares=shares,
        mean_scores={label: round(score_sums[label] / readable, 4) if read else None for label in labels},
        dominant=max(labels, key=lambda label: shares[label].share) if read else None,
        positive_share=round(sum(shares[p].share for p in POSITIVE if p in shares), 4) if read else None,
        method=COUNTED if calibration is None else CORRECTED,
        kind=kind.name if kind else None,
        lines=[],
    )
    summary.lines = summary_lines(summary)
    return summary


def wilson_interval(share: float, n: float) -> tuple[float, float]:
    """95 % Wilson score interval of a share seen in n faces (sound for small n and for shares near 0 or 1)."""
    if n <= 0:
        return 0.0, 1.0
    centre = share + Z95**2 / (2 * n)
    spread = Z95 * math.sqrt(share * (1 - share) / n + Z95**2 / (4 * n * n))
    scale = 1 + Z95**2 / n
    return round(max(0.0, (centre - spread) / scale), 4), round(min(1.0, (centre + spread) / scale), 4)


class CrowdTally:
    """Running counts, probability sums and log-evidence sums over any number of faces, in constant memory."""

    def __init__(self, labels: list[str], calibration: Calibration | None = None):
        self.labels, self.calibration = labels, calibration
        self.faces = 0
        self.readable = 0
        self.counts = dict.fromkeys(labels, 0)
        self.sums = dict.fromkeys(labels, 0.0)
        self.evidence: dict[str, float] = {}

    def add(self, faces: list[Face]) -> None:
        read = [face for face in faces if face.readable]
        self.faces += len(faces)
        self.readable += len(read)
        for face in read:
            self.counts[face.emotion] += 1
            for label in self.labels:
                self.sums[label] += face.scores[label]
        if self.calibration and read:
            probs = np.array([[face.scores[label] for label in self.labels] for face in read])
            for kind, value in self.calibration.log_evidence(probs).items():
                self.evidence[kind] = self.evidence.get(kind, 0.0) + value

    def summary(self) -> CrowdSummary:
        return summarize(
            self.labels, self.faces, self.readable, self.counts, self.sums, self.calibration, evidence=self.evidence
        )


def crowd_summary(faces: list[Face], labels: list[str], calibration: Calibration | None = None) -> CrowdSummary:
    tally = CrowdTally(labels, calibration)
    tally.add(faces)
    return tally.summary()


def percent(p: float) -> str:
    """'62 %': how every share and probability is written, in text and on pictures."""
    return f"{round(100 * p)} %"


def share_text(summary: CrowdSummary, label: str) -> str:
    """'happy 62 % (57-67 %)': an emotion's share of the readable faces and its 95 % interval."""
    share = summary.shares[label]
    if share.share is None:
        return f"{label} -"
    return f"{label} {percent(share.share)} ({round(100 * share.low)}-{percent(share.high)})"


def summary_lines(summary: CrowdSummary, top: int = 3) -> list[str]:
    """The crowd in words: faces found and read, then the `top` emotions by share (those of at least 0.5 %)."""
    found = f"{summary.faces:g} faces, {summary.readable:g} readable"
    if summary.readable == 0:
        return [found]
    ranked = sorted(summary.shares, key=lambda label: -summary.shares[label].share)
    return [found, *(share_text(summary, label) for label in ranked[:top] if summary.shares[label].share >= 0.005)]


def share_columns(labels: list[str]) -> list[str]:
    """Flat columns of a summary's shares: LABEL, LABEL_low, LABEL_high for each label."""
    return [f"{label}{part}" for label in labels for part in ("", "_low", "_high")]


def share_values(summary: dict) -> dict:
    """A summary's faces, readable faces and shares (`CrowdSummary.to_dict()`) as one flat row (see
    `share_columns`)."""
    row = {"faces": summary["faces"], "readable": summary["readable"]}
    for label, share in summary["shares"].items():
        row.update({label: share["share"], f"{label}_low": share["low"], f"{label}_high": share["high"]})
    return row
