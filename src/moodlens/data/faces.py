"""Decoded faces as arrays (`FaceData`), decoded once per data set and kept in a cache.

`load_dataset` decodes the items of a listing into uint8 arrays and caches them, keyed by a hash of
the item list, so that later epochs and runs never decode again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from moodlens.data.labels import EMOTIONS
from moodlens.data.readers import DatasetError, Item, Listing, limit_per_class, list_dataset
from moodlens.runtime.files import OutputError, write_atomic

CACHE_VERSION = 2  # part of every cache key: a change of what the cache holds never reads an old file


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


class FaceCollector:
    """Faces gathered one at a time (decoded, or cut out of photos), then stacked into `FaceData`."""

    def __init__(self, size: int, channels: int):
        self.size, self.channels = size, channels
        self.images: list[np.ndarray] = []
        self.labels: list[int] = []
        self.votes: list[list[float]] = []
        self.keys: list[str] = []
        self.digests: list[str] = []
        self.skipped: list[tuple[str, str]] = []

    def add(self, image: np.ndarray, item: Item, data: bytes) -> None:
        """A face of `item`, taken from the file or row whose bytes are `data`."""
        self.images.append(image)
        self.labels.append(EMOTIONS.index(item.label))
        self.votes.append(item.votes or [0.0] * len(EMOTIONS))
        self.keys.append(item.key)
        self.digests.append(hashlib.sha1(data).hexdigest())

    def skip(self, key: str, reason: str) -> None:
        self.skipped.append((key, reason))

    def face_data(self, listing: Listing, source: str) -> FaceData:
        """The faces, with the annotators' votes where the listing has them (FER+)."""
        shape = (0, self.size, self.size, self.channels)
        return FaceData(
            images=np.stack(self.images) if self.images else np.zeros(shape, np.uint8),
            labels=np.array(self.labels, dtype=np.int64),
            keys=self.keys,
            digests=self.digests,
            soft=np.array(self.votes, dtype=np.float32).reshape(-1, len(EMOTIONS))
            if listing.kind == "ferplus"
            else None,
            kind=listing.kind,
            source=source,
            skipped=self.skipped,
            dropped=listing.dropped,
        )


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


def decode_all(listing: Listing, size: int, channels: int, source: str) -> FaceData:
    faces = FaceCollector(size, channels)
    for item in listing.items:
        try:
            data = listing.read_bytes(item)
            faces.add(decode_face(data, size, channels), item, data)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            faces.skip(item.key, f"{type(exc).__name__}: {exc}")
    return faces.face_data(listing, source)


def cache_dir() -> Path:
    return Path(os.environ.get("MOODLENS_CACHE", Path.home() / ".cache" / "moodlens"))


def cache_key(listing: Listing, size: int, channels: int) -> str:
    """A hash of what decoding depends on: the items, their files' sizes and times, the face size."""
    digest = hashlib.sha1(json.dumps([CACHE_VERSION, listing.kind, size, channels]).encode())
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


def write_cache(cache_file: Path, faces: FaceData) -> None:
    """Keep the decoded faces for the next run; the cache only saves time, so a full disk skips it."""
    arrays = {
        "images": faces.images,
        "labels": faces.labels,
        "keys": np.array(faces.keys, dtype=str),
        "digests": np.array(faces.digests, dtype=str),
        "skipped": np.array(faces.skipped, dtype=str).reshape(-1, 2),
        **({"soft": faces.soft} if faces.soft is not None else {}),
    }
    try:
        write_atomic(cache_file, lambda tmp: np.savez(tmp, **arrays))
    except OutputError as e:
        print(f"WARNING: decoded faces not cached: {e}", file=sys.stderr)


def read_cache(cache_file: Path, listing: Listing, source: str) -> FaceData:
    with np.load(cache_file, allow_pickle=False) as npz:
        return FaceData(
            images=npz["images"],
            labels=npz["labels"],
            keys=npz["keys"].tolist(),
            digests=npz["digests"].tolist(),
            soft=npz["soft"] if "soft" in npz.files else None,
            kind=listing.kind,
            source=source,
            skipped=[tuple(pair) for pair in npz["skipped"].tolist()],
            dropped=listing.dropped,
        )


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
    cache_file = cache_dir() / f"{cache_key(listing, size, channels)}.npz"
    if use_cache and cache_file.exists():
        faces = read_cache(cache_file, listing, str(path))
    else:
        faces = decode_all(listing, size, channels, str(path))
        if use_cache:
            write_cache(cache_file, faces)
    if not len(faces):
        raise DatasetError(f"{path}: none of the {len(listing.items)} images could be decoded")
    return faces
