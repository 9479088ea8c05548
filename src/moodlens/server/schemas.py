"""The API's typed responses: what /docs shows and what every answer is checked against."""

from __future__ import annotations

from pydantic import BaseModel

from moodlens.recording.timeline import BucketSummary
from moodlens.runtime.crowd import CrowdSummary


class Mark(BaseModel):
    """Text drawn on the picture and its rectangle, in pixels of the picture."""

    x: int
    y: int
    w: int
    h: int
    text: str
    covers: bool = False  # a label with no free spot: it covers another face's box, number or label


class FaceOut(BaseModel):
    box: list[int]  # x, y, w, h in pixels of the photo
    size: int  # the box's width
    score: float  # detector confidence
    readable: bool  # wide enough to read
    emotion: str | None  # the top emotion (None: too small to read)
    scores: dict[str, float]  # the (calibrated) probability of each emotion
    facing: bool | None  # turned towards the camera (None: no landmarks)
    track: int | None = None  # person id across frames of a live stream
    number: Mark  # the face's number (its track in a live stream), inside its box's corner
    label: Mark | None = None  # its emotion and probability, beside the box (readable faces only)


class Analysis(BaseModel):
    model: str
    width: int
    height: int
    timing_ms: dict[str, float]
    faces: list[FaceOut]
    summary: CrowdSummary  # the crowd's mood; `summary.lines` is the text the page shows
    annotated_image: str | None = None  # a data: URL, when asked for


class BatchItem(BaseModel):
    filename: str | None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    timing_ms: dict[str, float] | None = None
    faces: list[FaceOut] | None = None
    summary: CrowdSummary | None = None
    error: str | None = None  # why this file was not analysed
    detail: str | None = None


class Batch(BaseModel):
    results: list[BatchItem]


class Timeline(BaseModel):
    session: str
    created: float
    labels: list[str]
    bucket: float
    buckets: list[BucketSummary]
    markers: dict[str, float]  # the t of the buckets of highest and lowest positive share
