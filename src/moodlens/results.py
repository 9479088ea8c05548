"""Typed analysis results: every face of an image or video frame, and the crowd's summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

POSITIVE = ("happy",)  # what counts as a positive face in `positive_share`


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels of the original image
    score: float  # detector confidence
    emotion: str
    scores: dict[str, float]  # probability per label, summing to 1
    track: int | None = None  # person id across video frames

    def to_dict(self) -> dict:
        record = asdict(self)
        record["box"] = list(self.box)
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
        faces = [Face(tuple(f["box"]), f["score"], f["emotion"], f["scores"], f.get("track")) for f in record["faces"]]
        fields = ("path", "width", "height", "frame", "time", "error")
        return cls(faces=faces, **{key: record.get(key) for key in fields})

    def summary(self, labels: list[str]) -> dict:
        return crowd_summary(self.faces, labels)


class CrowdTally:
    """Running counts and probability sums over any number of faces, in constant memory."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.faces = 0
        self.counts = dict.fromkeys(labels, 0)
        self.sums = dict.fromkeys(labels, 0.0)

    def add(self, faces: list[Face]) -> None:
        for face in faces:
            self.faces += 1
            self.counts[face.emotion] += 1
            for label in self.labels:
                self.sums[label] += face.scores[label]

    def summary(self) -> dict:
        """Faces per emotion, mean probabilities, the dominant emotion and the share of positive faces."""
        n = self.faces
        mean = {label: self.sums[label] / n if n else 0.0 for label in self.labels}
        return {
            "faces": n,
            "counts": dict(self.counts),
            "mean_scores": mean,
            "dominant": max(mean, key=mean.get) if n else None,
            "positive_share": sum(self.counts.get(p, 0) for p in POSITIVE) / n if n else 0.0,
        }


def crowd_summary(faces: list[Face], labels: list[str]) -> dict:
    tally = CrowdTally(labels)
    tally.add(faces)
    return tally.summary()


def face_rows(results: list[ImageResult]) -> list[dict]:
    """One flat row per face (image-level fields repeated): for CSV and DataFrames."""
    rows = []
    for result in results:
        for index, face in enumerate(result.faces):
            row = {"path": result.path, "frame": result.frame, "time": result.time, "face": index, "track": face.track}
            row.update(x=face.box[0], y=face.box[1], w=face.box[2], h=face.box[3], score=face.score)
            row["emotion"] = face.emotion
            row.update({f"p_{label}": p for label, p in face.scores.items()})
            rows.append(row)
    return rows


def to_dataframe(results: list[ImageResult]):
    """A pandas DataFrame with one row per face (pandas is imported only here)."""
    import pandas as pd

    return pd.DataFrame(face_rows(results))
