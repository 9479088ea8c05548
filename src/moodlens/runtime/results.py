"""Typed analysis results: every face of an image or video frame (the crowd's summary: runtime.crowd)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Faces narrower than this (in pixels of the photo) are counted but not read: below it the shipped models
# keep less than 80 % of their full-size accuracy (benchmarks/readable_size.py, "readable_width").
READABLE_WIDTH = 16


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
