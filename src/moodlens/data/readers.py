"""Readers for the facial-expression data set layouts people download.

Every reader turns a path into a `Listing` of `Item`s (a file or CSV row, its canonical label and,
for FER+, its vote distribution); data/faces.py decodes them.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moodlens.data.labels import EMOTIONS, FER2013_EMOTIONS, canonical_label
from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.imaging import is_image_file

FERPLUS_COLUMNS = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt", "unknown", "NF")


class DatasetError(MoodlensError):
    """A data set path or its content cannot be used; the message says why in one line."""


@dataclass
class Item:
    key: str  # file path, or "file.csv:ROW" for rows of the FER-2013 CSV
    label: str
    votes: list[float] | None = None  # FER+ votes over EMOTIONS


@dataclass
class Listing:
    kind: str
    items: list[Item]
    read_bytes: Callable[[Item], bytes]
    dropped: dict[str, int] = field(default_factory=dict)


def _file_bytes(item: Item) -> bytes:
    return Path(item.key).read_bytes()


def read_folder_tree(root: Path) -> Listing:
    """root/<class>/<image>: the Kaggle layout of FER-2013 and most tutorials."""
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(f"{root}: no class folders, label.csv or legend.csv found")
    items = []
    for class_dir in class_dirs:
        label = canonical_label(class_dir.name)
        files = sorted(p for p in class_dir.rglob("*") if is_image_file(p))
        if not files:
            raise DatasetError(f"{class_dir}: class folder has no images")
        items += [Item(str(p), label) for p in files]
    return Listing("folders", items, _file_bytes)


def read_ferplus(root: Path) -> Listing:
    """FER+ label.csv: image, face box, then votes for FERPLUS_COLUMNS; no header."""
    items, dropped = [], {"unknown": 0, "NF": 0}
    with open(root / "label.csv", newline="") as f:
        for row in csv.reader(f):
            if len(row) != 12:
                raise DatasetError(f"{root / 'label.csv'}: expected 12 columns, got {len(row)}: {row[:3]}")
            votes = np.array([float(v) for v in row[2:]])
            majority = FERPLUS_COLUMNS[int(votes.argmax())]
            if majority in dropped:
                dropped[majority] += 1
                continue
            emotion_votes = [0.0] * len(EMOTIONS)
            for name, count in zip(FERPLUS_COLUMNS[:8], votes[:8], strict=True):
                emotion_votes[EMOTIONS.index(name)] = float(count)
            items.append(Item(str(root / row[0]), majority, emotion_votes))
    return Listing("ferplus", items, _file_bytes, dropped)


def read_legend(legend: Path) -> Listing:
    """muxspace facial_expressions: legend.csv with user.id,image,emotion; images in images/."""
    image_dir = legend.parent / "images" if (legend.parent / "images").is_dir() else legend.parent
    with open(legend, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"image", "emotion"} <= set(rows[0]):
        raise DatasetError(f"{legend}: expected columns user.id,image,emotion")
    items = [Item(str(image_dir / row["image"]), canonical_label(row["emotion"])) for row in rows]
    return Listing("legend", items, _file_bytes)


def read_fer2013_csv(path: Path, usage: str | None) -> Listing:
    """The FER-2013 challenge CSV: emotion (0-6), pixels (2304 space-separated values), Usage."""
    pixels: dict[str, str] = {}
    items = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"emotion", "pixels"} <= set(reader.fieldnames):
            raise DatasetError(f"{path}: expected a header with emotion,pixels[,Usage]")
        for row_number, row in enumerate(reader, start=2):
            if usage and row.get("Usage") != usage:
                continue
            key = f"{path}:{row_number}"
            pixels[key] = row["pixels"]
            items.append(Item(key, FER2013_EMOTIONS[int(row["emotion"])]))
    if usage and not items:
        raise DatasetError(f"{path}: no rows with Usage {usage!r}")

    def read_bytes(item: Item) -> bytes:
        values = np.array(pixels[item.key].split(), dtype=np.uint8)
        side = round(len(values) ** 0.5)
        if side * side != len(values):
            raise ValueError(f"{len(values)} pixels is not a square image")
        buffer = io.BytesIO()
        np.save(buffer, values.reshape(side, side))
        return buffer.getvalue()

    return Listing("fer2013-csv", items, read_bytes)


def list_dataset(path: str | os.PathLike) -> Listing:
    """Detect the layout of `path` and list its items. 'file.csv#PublicTest' selects a Usage."""
    text = str(path)
    usage = None
    if "#" in text:
        text, usage = text.split("#", 1)
    root = Path(text)
    if not root.exists():
        raise DatasetError(f"{root}: no such file or directory")
    if root.is_file():
        with open(root, newline="") as f:
            header = f.readline().strip().lower()
        if "pixels" in header:
            return read_fer2013_csv(root, usage)
        if "emotion" in header and "image" in header:
            return read_legend(root)
        raise DatasetError(f"{root}: not a FER-2013 CSV (emotion,pixels,Usage) or a legend.csv")
    if (root / "label.csv").is_file():
        return read_ferplus(root)
    if (root / "legend.csv").is_file():
        return read_legend(root / "legend.csv")
    return read_folder_tree(root)


def limit_per_class(items: list[Item], limit: int | None) -> list[Item]:
    """Keep the first `limit` items of each class, in listing order (for quick experiments)."""
    if not limit:
        return items
    taken: dict[str, int] = {}
    kept = []
    for item in items:
        if taken.get(item.label, 0) < limit:
            taken[item.label] = taken.get(item.label, 0) + 1
            kept.append(item)
    return kept
