"""Labelled photo data sets (uncropped) turned into face crops by detection, for `moodlens eval --detect`."""

from __future__ import annotations

import os

from moodlens.data.faces import FaceCollector, FaceData
from moodlens.data.readers import DatasetError, limit_per_class, list_dataset
from moodlens.runtime.crops import MARGIN, crop_faces
from moodlens.runtime.detection import FaceDetector
from moodlens.runtime.imaging import ImageError, read_image

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
    faces, missed = FaceCollector(size, channels), []
    for item in items:
        try:
            data = listing.read_bytes(item)
            image = read_image(data)
        except (OSError, ImageError) as e:
            faces.skip(item.key, str(e))
            continue
        found = detector.detect(image)
        if not found:
            faces.skip(item.key, NO_FACE)
            missed.append(item.label)
            continue
        largest = max(found, key=lambda d: d.box[2] * d.box[3])
        faces.add(crop_faces(image, [largest.box], size, channels, margin, [largest.eyes])[0], item, data)
    if not faces.images:
        raise DatasetError(f"{path}: no face was found in any of its {len(items)} photos")
    return faces.face_data(listing, str(path)), missed
