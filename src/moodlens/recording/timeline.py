"""A session's timeline: its steps summed into buckets of a chosen length, and the moments to look at.

Faces in a bucket are counted per recorder as the mean over its steps (the same people are seen again
at every step) and added over recorders (cameras watching different parts of a room). Each emotion's
share pools the readable faces of all steps, corrected for the model's confusions with the calibration
the session was recorded with (runtime.crowd); its 95 % interval treats the bucket's people, not its
frames, as the sample (n = readable faces per step, summed over recorders), so that sampling faster
does not make the interval narrower than the crowd allows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from moodlens.recording.store import Session, Step
from moodlens.runtime.calibration import Calibration
from moodlens.runtime.crowd import CrowdSummary, share_columns, share_values, summarize, summary_lines
from moodlens.runtime.errors import MoodlensError


@dataclass
class BucketSummary(CrowdSummary):
    t: float  # seconds from the session's start to the bucket's
    steps: int  # analysed frames, over all recorders
    attention: float | None  # the share of faces turned towards the camera


def session_settings(model: str, calibration: Calibration | None, **more) -> dict:
    """What a session keeps of how it was recorded: the model, and the calibration its shares are
    corrected with (kept in the session, so that its timeline reads the same after the model changes)."""
    return {"model": model, "calibration": calibration.to_dict() if calibration else None, **more}


def session_calibration(session: Session) -> Calibration | None:
    record = session.settings.get("calibration")
    return Calibration.from_dict(record) if record else None


class Bucket:
    def __init__(self, labels: list[str]):
        self.labels = labels
        self.steps: dict[str, int] = defaultdict(int)  # per recorder
        self.faces: dict[str, int] = defaultdict(int)
        self.readable: dict[str, int] = defaultdict(int)
        self.facing = 0
        self.counts = dict.fromkeys(labels, 0)
        self.sums = dict.fromkeys(labels, 0.0)
        self.evidence: dict[str, float] = defaultdict(float)

    def add(self, recorder: str, step: Step) -> None:
        self.steps[recorder] += 1
        self.faces[recorder] += step.faces
        self.readable[recorder] += step.readable
        self.facing += step.facing
        for label in self.labels:
            self.counts[label] += step.counts.get(label, 0)
            self.sums[label] += step.score_sums.get(label, 0.0)
        for kind, value in step.evidence.items():
            self.evidence[kind] += value

    def summary(self, start: float, calibration: Calibration | None) -> BucketSummary:
        readable_total, all_faces = sum(self.readable.values()), sum(self.faces.values())
        people = sum(self.readable[r] / self.steps[r] for r in self.steps)  # readable faces per step
        crowd = summarize(
            self.labels,
            round(sum(self.faces[r] / self.steps[r] for r in self.steps), 2),
            readable_total,
            self.counts,
            self.sums,
            calibration,
            sample=people,
            evidence=self.evidence,
        )
        crowd.readable = round(people, 2)  # reported per step, as the faces are
        crowd.lines = summary_lines(crowd)
        return BucketSummary(
            **vars(crowd),
            t=round(start, 3),
            steps=sum(self.steps.values()),
            attention=round(self.facing / all_faces, 4) if all_faces else None,
        )


class RunningTimeline:
    """A session's buckets, kept as steps come: add the steps written since, read it again; only the buckets
    that changed are summarised again (a server answering a page that asks every 2 s reads a 4-hour session
    once, then only its newest steps)."""

    def __init__(self, session: Session, bucket: float):
        if bucket <= 0:
            raise MoodlensError(f"bucket must be more than 0 seconds, got {bucket}")
        self.session, self.bucket = session, bucket
        self.calibration = session_calibration(session)
        self.buckets: dict[int, Bucket] = {}
        self.summaries: dict[int, BucketSummary] = {}  # of the buckets unchanged since they were summarised
        self.last_id = 0  # the last step added, for Store.steps_after

    def add(self, steps: Iterable[tuple[str, Step]]) -> RunningTimeline:
        for recorder, step in steps:
            index = int((step.time - self.session.created) // self.bucket)
            self.buckets.setdefault(index, Bucket(self.session.labels)).add(recorder, step)
            self.summaries.pop(index, None)
        return self

    def add_new(self, steps: Iterable[tuple[int, str, Step]]) -> RunningTimeline:
        """Steps with their ids, as Store.steps_after gives them."""
        for step_id, recorder, step in steps:
            self.add([(recorder, step)])
            self.last_id = max(self.last_id, step_id)
        return self

    def read(self, since: float | None = None) -> dict:
        """The buckets (from the one holding the moment `since`, if given), in time order, and the buckets of
        highest and lowest positive share among those with readable faces (none where all have the same)."""
        first = -1 if since is None else int((since - self.session.created) // self.bucket)
        for index in self.buckets.keys() - self.summaries.keys():
            self.summaries[index] = self.buckets[index].summary(index * self.bucket, self.calibration)
        rows = [self.summaries[i] for i in sorted(self.summaries) if i >= first]
        read = [row for row in rows if row.positive_share is not None]
        markers = {}
        highest = max(read, key=lambda row: row.positive_share, default=None)
        lowest = min(read, key=lambda row: row.positive_share, default=None)
        if highest and highest.positive_share > lowest.positive_share:  # else there is no moment to point at
            markers = {"highest_positive": highest.t, "lowest_positive": lowest.t}
        return {
            "session": self.session.name,
            "created": self.session.created,
            "labels": self.session.labels,
            "bucket": self.bucket,
            "buckets": [row.to_dict() for row in rows],
            "markers": markers,
        }


def timeline(session: Session, steps: Iterable[tuple[str, Step]], bucket: float) -> dict:
    """The timeline of these steps at once (see RunningTimeline)."""
    return RunningTimeline(session, bucket).add(steps).read()


def export_columns(labels: list[str]) -> list[str]:
    """The flat columns of `export_rows`, in order."""
    means = [f"mean_{label}" for label in labels]
    return ["t", "steps", "faces", "readable", "attention", "positive_share", *share_columns(labels), *means]


def export_rows(line: dict) -> list[dict]:
    """A timeline's buckets as flat rows for CSV and Parquet."""
    rows = []
    for bucket in line["buckets"]:
        row = {key: bucket[key] for key in ("t", "steps", "attention", "positive_share")}
        row.update(share_values(bucket))
        row.update({f"mean_{label}": value for label, value in bucket["mean_scores"].items()})
        rows.append(row)
    return rows
