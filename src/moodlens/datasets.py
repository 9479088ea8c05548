"""Readers for the facial-expression data set layouts people download, with a decode cache.

Every reader turns a path into a list of `Item`s (a file or CSV row, its canonical label and,
for FER+, its vote distribution). `load_dataset` decodes the items once into uint8 arrays and
caches them, keyed by a hash of the item list, so later epochs and runs never decode again.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .labels import EMOTIONS, FER2013_EMOTIONS, canonical_label
from .writers import atomic_path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
FERPLUS_COLUMNS = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt", "unknown", "NF")


class DatasetError(ValueError):
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


@dataclass
class FaceData:
    """Decoded faces: images (N, H, W, C) uint8 and labels as indices into EMOTIONS."""

    images: np.ndarray
    labels: np.ndarray
    keys: list[str]
    digests: list[str]
    soft: np.ndarray | None = None  # (N, len(EMOTIONS)) vote distribution, FER+ only
    kind: str = ""
    source: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, indices: np.ndarray) -> FaceData:
        indices = np.asarray(indices, dtype=np.int64)
        return FaceData(
            images=self.images[indices],
            labels=self.labels[indices],
            keys=[self.keys[i] for i in indices],
            digests=[self.digests[i] for i in indices],
            soft=None if self.soft is None else self.soft[indices],
            kind=self.kind,
            source=self.source,
            skipped=self.skipped,
            dropped=self.dropped,
        )

    def concat(self, other: FaceData) -> FaceData:
        """These faces followed by `other`'s; both must carry votes, or neither."""
        if (self.soft is None) != (other.soft is None):
            raise ValueError("cannot join faces with votes and faces without")
        return dataclasses.replace(
            self,
            images=np.concatenate([self.images, other.images]),
            labels=np.concatenate([self.labels, other.labels]),
            keys=self.keys + other.keys,
            digests=self.digests + other.digests,
            soft=None if self.soft is None else np.concatenate([self.soft, other.soft]),
        )

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(EMOTIONS))
        return {name: int(counts[i]) for i, name in enumerate(EMOTIONS) if counts[i]}


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
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
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


def decode_face(data: bytes, size: int, channels: int) -> np.ndarray:
    """Decode image bytes (or a saved .npy array) to (size, size, channels) uint8."""
    if data[:6] == b"\x93NUMPY":
        image = Image.fromarray(np.load(io.BytesIO(data)))
    else:
        image = Image.open(io.BytesIO(data))
        image.load()
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)


def cache_dir() -> Path:
    return Path(os.environ.get("MOODLENS_CACHE", Path.home() / ".cache" / "moodlens"))


def _cache_key(listing: Listing, size: int, channels: int) -> str:
    digest = hashlib.sha1(json.dumps([listing.kind, size, channels]).encode())
    stamped: set[str] = set()
    for item in listing.items:
        source = item.key.rsplit(":", 1)[0] if listing.kind == "fer2013-csv" else item.key
        stat = (0, 0)
        if source not in stamped and os.path.exists(source):
            st = os.stat(source)
            stat = (st.st_size, st.st_mtime_ns)
            stamped.add(source)
        digest.update(json.dumps([item.key, item.label, item.votes, stat]).encode())
    return digest.hexdigest()


def _decode_all(listing: Listing, size: int, channels: int) -> dict[str, np.ndarray | list]:
    images, labels, votes, keys, digests, skipped = [], [], [], [], [], []
    for item in listing.items:
        try:
            data = listing.read_bytes(item)
            images.append(decode_face(data, size, channels))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            skipped.append((item.key, f"{type(exc).__name__}: {exc}"))
            continue
        labels.append(EMOTIONS.index(item.label))
        votes.append(item.votes or [0.0] * len(EMOTIONS))
        keys.append(item.key)
        digests.append(hashlib.sha1(data).hexdigest())
    return {
        "images": np.stack(images) if images else np.zeros((0, size, size, channels), np.uint8),
        "labels": np.array(labels, dtype=np.int64),
        "votes": np.array(votes, dtype=np.float32).reshape(-1, len(EMOTIONS)),
        "keys": keys,
        "digests": digests,
        "skipped": skipped,
    }


def load_dataset(
    path: str | os.PathLike,
    size: int = 48,
    channels: int = 1,
    per_class: int | None = None,
    use_cache: bool = True,
) -> FaceData:
    """Read any supported layout at `path` into FaceData, decoding each image at most once."""
    listing = list_dataset(path)
    listing.items = limit_per_class(listing.items, per_class)
    if not listing.items:
        raise DatasetError(f"{path}: no labelled images found")
    cache_file = cache_dir() / f"{_cache_key(listing, size, channels)}.npz"
    if use_cache and cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        arrays["keys"] = arrays["keys"].tolist()
        arrays["digests"] = arrays["digests"].tolist()
        arrays["skipped"] = [tuple(pair) for pair in arrays["skipped"].tolist()]
    else:
        arrays = _decode_all(listing, size, channels)
        if use_cache:
            _write_cache(cache_file, arrays)
    if not len(arrays["labels"]):
        raise DatasetError(f"{path}: none of the {len(listing.items)} images could be decoded")
    has_votes = listing.kind == "ferplus"
    return FaceData(
        images=arrays["images"],
        labels=arrays["labels"],
        keys=list(arrays["keys"]),
        digests=list(arrays["digests"]),
        soft=arrays["votes"] if has_votes else None,
        kind=listing.kind,
        source=str(path),
        skipped=list(arrays["skipped"]),
        dropped=listing.dropped,
    )


def _write_cache(cache_file: Path, arrays: dict) -> None:
    """Keep the decoded faces for the next run; the cache only saves time, so a full disk skips it."""
    skipped = np.array(arrays["skipped"], dtype=str).reshape(-1, 2)
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_file) as tmp:
            np.savez(
                tmp,
                images=arrays["images"],
                labels=arrays["labels"],
                votes=arrays["votes"],
                keys=np.array(arrays["keys"], dtype=str),
                digests=np.array(arrays["digests"], dtype=str),
                skipped=skipped,
            )
    except OSError as e:
        print(f"WARNING: decoded faces not cached at {cache_file}: {e.strerror or e}", file=sys.stderr)
