"""How a video's mood moves: a timeline of each emotion's share, and a summary per tracked person."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from moodlens.runtime.crowd import CrowdSummary, share_columns, share_values
from moodlens.runtime.files import write_atomic
from moodlens.runtime.results import ImageResult


class VideoSummary:
    """Accumulates per-frame results; holds one small row per analysed frame and one per person."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.rows: list[dict] = []
        self.people: dict[int, dict] = {}

    def add(self, result: ImageResult, summary: CrowdSummary) -> None:
        """A frame's result and its faces' summary."""
        self.rows.append({"frame": result.frame, "time": result.time, **share_values(summary.to_dict())})
        for face in result.faces:
            person = self.people.setdefault(
                face.track,
                {"track": face.track, "frames": 0, "read": 0, "first": result.time, "sums": np.zeros(len(self.labels))},
            )
            person["frames"] += 1
            person["last"] = result.time
            if face.readable:
                person["read"] += 1
                person["sums"] += [face.scores[label] for label in self.labels]

    def person_summaries(self) -> list[dict]:
        """Per tracked person: frames seen, frames readable, and the mean probabilities over the readable ones."""
        out = []
        for person in self.people.values():
            mean = person["sums"] / max(1, person["read"])
            out.append(
                {
                    "track": person["track"],
                    "frames": person["frames"],
                    "readable_frames": person["read"],
                    "first": person["first"],
                    "last": person["last"],
                    "dominant": self.labels[int(mean.argmax())] if person["read"] else None,
                    "mean_scores": {label: round(float(p), 6) for label, p in zip(self.labels, mean, strict=True)},
                }
            )
        return out

    def write(self, out_dir: Path, stem: str) -> dict:
        """timeline CSV and PNG plus people JSON in `out_dir`; returns a summary with their paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {kind: out_dir / f"{stem}.{kind}" for kind in ("timeline.csv", "timeline.png", "people.json")}
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=["frame", "time", "faces", "readable", *share_columns(self.labels)])
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomic(paths["timeline.csv"], text.getvalue())
        plot_timeline(self.rows, self.labels, paths["timeline.png"])
        people = self.person_summaries()
        write_atomic(paths["people.json"], json.dumps(people, indent=2))
        return {
            "frames_analysed": len(self.rows),
            "people": len(people),
            "max_faces_in_a_frame": max((r["faces"] for r in self.rows), default=0),
            "files": {kind: str(path) for kind, path in paths.items()},
        }


def smoothed(values: list[float | None], window: int) -> np.ndarray:
    """Moving average over `window` samples; at the ends, over the samples there are (no zero padding).
    A sample without a value (None: a frame with no readable face) is left out, and a window with no value
    at all gives NaN, where a plotted line breaks."""
    present = np.array([v is not None for v in values], np.float64)
    filled = np.array([v if v is not None else 0.0 for v in values], np.float64)
    kernel = np.ones(max(1, min(window, len(values))))
    counts = np.convolve(present, kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.convolve(filled, kernel, mode="same") / counts, np.nan)


def plot_timeline(rows: list[dict], labels: list[str], path: Path, window: int = 5) -> None:
    """Each emotion's share of the readable faces over time with its 95 % interval as a band, smoothed over
    `window` analysed frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from moodlens.runtime.annotate import COLORS

    fig, ax = plt.subplots(figsize=(9, 3.5))
    times = [r["time"] for r in rows]
    for label in labels if rows else []:
        color = np.array(COLORS.get(label, (0, 0, 0))) / 255
        shares, low, high = (smoothed([r[f"{label}{part}"] for r in rows], window) for part in ("", "_low", "_high"))
        ax.plot(times, shares, label=label, color=color)
        ax.fill_between(times, low, high, color=color, alpha=0.12, linewidth=0)
    ax.set(xlabel="time (s)", ylabel="share of readable faces", ylim=(0, 1), title="mood over time")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=8)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)
