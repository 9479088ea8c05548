"""Data-quality checks: byte-identical duplicates, conflicting labels, blank faces, split leaks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from moodlens.data.faces import FaceData
from moodlens.data.labels import EMOTIONS

BLANK_STD = 3.0  # pixel standard deviation below which a face is a blank or near-blank frame
NEAR_DUPLICATE = 0.995  # cosine similarity of 16x16 thumbnails above which two faces are the same photo
SHARPNESS_SHIFT = 4.0  # train/validation ratio of median sharpness beyond which the splits differ in kind


@dataclass
class QualityReport:
    images: int
    duplicate_groups: int = 0
    duplicate_copies: int = 0  # images beyond the first of each group
    conflicting_groups: int = 0  # groups whose copies carry different labels
    conflicting_examples: list[dict] = field(default_factory=list)
    blank: int = 0
    leaked_into_val: int = 0  # byte-identical to a validation face
    near_leaked_into_val: int = 0  # the same photo re-encoded (e.g. JPEG vs PNG), not byte-identical
    skipped_unreadable: int = 0
    removed: int = 0
    sharpness: float = 0.0  # median Laplacian variance of the faces
    val_sharpness: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def quality_summary(q: dict) -> str:
    """One line describing a QualityReport's counts."""
    return (
        f"{q['images']} images: {q['duplicate_copies']} duplicate copies in {q['duplicate_groups']} groups "
        f"({q['conflicting_groups']} with conflicting labels), {q['blank']} blank, "
        f"{q['leaked_into_val']} also in validation (+{q['near_leaked_into_val']} re-encoded), "
        f"{q['skipped_unreadable']} unreadable; {q['removed']} removed"
    )


def duplicate_groups(digests: list[str]) -> list[list[int]]:
    """Indices of byte-identical images, one list per content hash seen more than once."""
    by_digest: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(digests):
        by_digest[digest].append(index)
    return [group for group in by_digest.values() if len(group) > 1]


def sharpness(images: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian per face: low for blurred faces, high for sharp ones."""
    x = images.mean(axis=-1, dtype=np.float32)
    laplacian = 4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    return laplacian.reshape(len(x), -1).var(axis=1)


def sharpness_warning(train: float, val: float) -> str | None:
    """A model trained on blurred faces fails on sharp ones (and the reverse): say so."""
    ratio = (val + 1e-6) / (train + 1e-6)
    if ratio > SHARPNESS_SHIFT:
        return f"training faces are much blurrier than validation faces (median sharpness {train:.0f} vs {val:.0f})"
    if ratio < 1 / SHARPNESS_SHIFT:
        return f"training faces are much sharper than validation faces (median sharpness {train:.0f} vs {val:.0f})"
    return None


def thumbnails(images: np.ndarray, side: int = 16) -> np.ndarray:
    """Mean-centred, unit-length side x side grey thumbnails, for finding the same photo re-encoded."""
    n, h, w, _ = images.shape
    grey = images.mean(axis=-1, dtype=np.float32)[:, : h - h % side, : w - w % side]
    thumbs = grey.reshape(n, side, h // side, side, w // side).mean(axis=(2, 4)).reshape(n, -1)
    thumbs -= thumbs.mean(axis=1, keepdims=True)
    return thumbs / (np.linalg.norm(thumbs, axis=1, keepdims=True) + 1e-6)


def near_duplicates_of(data: np.ndarray, reference: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Indices of faces in `data` that are the same photo as some face in `reference`."""
    ref = thumbnails(reference)
    found = []
    for start in range(0, len(data), chunk):
        similarity = thumbnails(data[start : start + chunk]) @ ref.T
        found.append(start + np.flatnonzero(similarity.max(axis=1) > NEAR_DUPLICATE))
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def blank_faces(images: np.ndarray) -> np.ndarray:
    """Indices of faces with almost no contrast (all-black, all-white or flat frames)."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    return np.flatnonzero(flat.std(axis=1) < BLANK_STD)


def inspect(data: FaceData, val: FaceData | None = None, remove: bool = False) -> tuple[FaceData, QualityReport]:
    """Report quality problems in `data`; with remove=True also return it without them.

    Removal keeps the first copy of a duplicate group, drops every copy of a group whose labels
    conflict, drops blank faces, and drops training images that also appear in `val`.
    """
    report = QualityReport(images=len(data), skipped_unreadable=len(data.skipped))
    report.sharpness = float(np.median(sharpness(data.images))) if len(data) else 0.0
    drop: set[int] = set()
    for group in duplicate_groups(data.digests):
        report.duplicate_groups += 1
        report.duplicate_copies += len(group) - 1
        labels = {EMOTIONS[data.labels[i]] for i in group}
        if len(labels) > 1:
            report.conflicting_groups += 1
            if len(report.conflicting_examples) < 20:
                report.conflicting_examples.append({"keys": [data.keys[i] for i in group], "labels": sorted(labels)})
            drop.update(group)
        else:
            drop.update(group[1:])
    blanks = blank_faces(data.images)
    report.blank = len(blanks)
    drop.update(blanks.tolist())
    if val is not None:
        report.val_sharpness = float(np.median(sharpness(val.images))) if len(val) else 0.0
        warning = sharpness_warning(report.sharpness, report.val_sharpness)
        if warning:
            report.warnings.append(warning)
        val_digests = set(val.digests)
        leaks = {i for i, digest in enumerate(data.digests) if digest in val_digests}
        report.leaked_into_val = len(leaks)
        near = set(near_duplicates_of(data.images, val.images).tolist()) - leaks
        report.near_leaked_into_val = len(near)
        drop.update(leaks | near)
    if not remove:
        return data, report
    report.removed = len(drop)
    keep = np.array([i for i in range(len(data)) if i not in drop], dtype=np.int64)
    return data.select(keep), report
