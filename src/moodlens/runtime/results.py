"""Typed analysis results: every face of an image or video frame, and the crowd's summary."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

POSITIVE = ("happy",)  # what counts as a positive face in `positive_share`
# Faces narrower than this (in pixels of the photo) are counted but not read: below it the shipped models
# keep less than 80 % of their full-size accuracy (benchmarks/readable_size.py, "readable_width").
READABLE_WIDTH = 20
Z95 = 1.959964  # the standard normal quantile of a two-sided 95 % interval


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels of the original image
    score: float  # detector confidence
    emotion: str | None  # None: too small to read (narrower than READABLE_WIDTH)
    scores: dict[str, float]  # the model's probability per label, summing to 1, also for unreadable faces
    track: int | None = None  # person id across video frames
    facing: bool | None = None  # turned towards the camera, judged from the detector's landmarks (None: none)

    @property
    def readable(self) -> bool:
        return self.emotion is not None

    def to_dict(self) -> dict:
        record = asdict(self)
        record["box"] = list(self.box)
        record.update(size=self.box[2], readable=self.readable)
        if self.track is None:
            del record["track"]
        return record


@dataclass
class ImageResult:
    path: str | None
    width: int
    height: int
    faces: list[Face] = field(default_factory=list)
    frame: int | None = None
    time: float | None = None  # seconds into the video
    error: str | None = None

    def to_dict(self) -> dict:
        record: dict = {"path": self.path}
        if self.frame is not None:
            record.update(frame=self.frame, time=self.time)
        record.update(width=self.width, height=self.height, faces=[f.to_dict() for f in self.faces])
        if self.error:
            record["error"] = self.error
        return record

    @classmethod
    def from_dict(cls, record: dict) -> ImageResult:
        faces = [
            Face(tuple(f["box"]), f["score"], f["emotion"], f["scores"], f.get("track"), f.get("facing"))
            for f in record["faces"]
        ]
        fields = ("path", "width", "height", "frame", "time", "error")
        return cls(faces=faces, **{key: record.get(key) for key in fields})

    def summary(self, labels: list[str]) -> dict:
        return crowd_summary(self.faces, labels)


def wilson_interval(count: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of the share count / n (sound for small n and for shares near 0 or 1)."""
    if n == 0:
        return 0.0, 1.0
    share = count / n
    centre = share + Z95**2 / (2 * n)
    spread = Z95 * math.sqrt(share * (1 - share) / n + Z95**2 / (4 * n * n))
    scale = 1 + Z95**2 / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


class CrowdTally:
    """Running counts and probability sums over any number of faces, in constant memory."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.faces = 0
        self.readable = 0
        self.counts = dict.fromkeys(labels, 0)
        self.sums = dict.fromkeys(labels, 0.0)

    def add(self, faces: list[Face]) -> None:
        for face in faces:
            self.faces += 1
            if not face.readable:
                continue
            self.readable += 1
            self.counts[face.emotion] += 1
            for label in self.labels:
                self.sums[label] += face.scores[label]

    def summary(self) -> dict:
        """Faces found and read; per emotion, the readable faces showing it and their share with a 95 % interval
        (treating the faces as a sample of the crowd); mean probabilities, the dominant emotion and the share of
        positive faces, all over the readable faces."""
        n = self.readable
        mean = {label: self.sums[label] / n if n else 0.0 for label in self.labels}
        shares = {}
        for label, count in self.counts.items():
            low, high = wilson_interval(count, n)
            shares[label] = {"share": count / n if n else 0.0, "low": round(low, 4), "high": round(high, 4)}
        return {
            "faces": self.faces,
            "readable": n,
            "counts": dict(self.counts),
            "shares": shares,
            "mean_scores": mean,
            "dominant": max(mean, key=mean.get) if n else None,
            "positive_share": sum(self.counts.get(p, 0) for p in POSITIVE) / n if n else 0.0,
        }


def share_text(summary: dict, label: str) -> str:
    """'happy 62 % (57-67 %)': an emotion's share of the readable faces and its 95 % interval, if any show it."""
    share = summary["shares"][label]
    text = f"{label} {round(100 * share['share'])} %"
    if summary["counts"][label]:
        text += f" ({round(100 * share['low'])}-{round(100 * share['high'])} %)"
    return text


def summary_lines(summary: dict, top: int = 3) -> list[str]:
    """The crowd in words: faces found and read, then the `top` emotions shown by readable faces."""
    ranked = sorted(summary["shares"], key=lambda label: -summary["shares"][label]["share"])
    shown = [share_text(summary, label) for label in ranked[:top] if summary["counts"][label]]
    return [f"{summary['faces']} faces, {summary['readable']} readable", *shown]


def share_columns(labels: list[str]) -> list[str]:
    """Flat columns of a summary's shares: LABEL, LABEL_low, LABEL_high for each label."""
    return [f"{label}{part}" for label in labels for part in ("", "_low", "_high")]


def share_values(summary: dict) -> dict:
    """A summary's faces, readable faces and shares as one flat row (see `share_columns`)."""
    row = {"faces": summary["faces"], "readable": summary["readable"]}
    for label, share in summary["shares"].items():
        row.update({label: share["share"], f"{label}_low": share["low"], f"{label}_high": share["high"]})
    return row


def crowd_summary(faces: list[Face], labels: list[str]) -> dict:
    tally = CrowdTally(labels)
    tally.add(faces)
    return tally.summary()


def face_columns(labels: list[str]) -> list[str]:
    """The columns of `face_rows`, in order (w is the face's size in pixels)."""
    columns = ["path", "frame", "time", "face", "track", "x", "y", "w", "h", "score", "facing", "readable", "emotion"]
    return columns + [f"p_{label}" for label in labels]


def face_rows(results: list[ImageResult]) -> list[dict]:
    """One flat row per face (image-level fields repeated): for CSV and DataFrames."""
    rows = []
    for result in results:
        for index, face in enumerate(result.faces):
            row = {"path": result.path, "frame": result.frame, "time": result.time, "face": index, "track": face.track}
            row.update(x=face.box[0], y=face.box[1], w=face.box[2], h=face.box[3], score=face.score, facing=face.facing)
            row.update(readable=face.readable, emotion=face.emotion)
            row.update({f"p_{label}": p for label, p in face.scores.items()})
            rows.append(row)
    return rows


def to_dataframe(results: list[ImageResult]):
    """A pandas DataFrame with one row per face (pandas is imported only here)."""
    import pandas as pd

    return pd.DataFrame(face_rows(results))
