"""Labelled photo data sets (uncropped) turned into face crops by detection, for `moodlens eval --detect`."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from .crops import MARGIN, crop_faces
from .datasets import DatasetError, FaceData, limit_per_class, list_dataset
from .detection import FaceDetector
from .imaging import ImageError, read_image
from .labels import EMOTIONS

NO_FACE = "no face found"


def largest_face_crops(
    path: str | os.PathLike,
    detector: FaceDetector,
    size: int,
    channels: int,
    margin: float = MARGIN,
    per_class: int | None = None,
) -> tuple[FaceData, list[str]]:
    """Crop the largest detected face of every labelled photo.

    Returns the crops and the labels of the photos where no face was found (those photos are also
    listed in `skipped` with the reason NO_FACE; unreadable ones with theirs).
    """
    listing = list_dataset(path)
    items = limit_per_class(listing.items, per_class)
    crops, labels, keys, digests, skipped, missed = [], [], [], [], [], []
    for item in items:
        try:
            data = listing.read_bytes(item)
            image = read_image(data)
        except (OSError, ImageError) as e:
            skipped.append((item.key, str(e)))
            continue
        found = detector.detect(image)
        if not found:
            skipped.append((item.key, NO_FACE))
            missed.append(item.label)
            continue
        largest = max(found, key=lambda d: d.box[2] * d.box[3])
        crops.append(crop_faces(image, [largest.box], size, channels, margin, [largest.eyes])[0])
        labels.append(EMOTIONS.index(item.label))
        keys.append(item.key)
        digests.append(hashlib.sha1(data).hexdigest())
    if not crops:
        raise DatasetError(f"{path}: no face was found in any of its {len(items)} photos")
    faces = FaceData(
        images=np.stack(crops),
        labels=np.array(labels, dtype=np.int64),
        keys=keys,
        digests=digests,
        kind=listing.kind,
        source=str(path),
        skipped=skipped,
        dropped=listing.dropped,
    )
    return faces, missed
