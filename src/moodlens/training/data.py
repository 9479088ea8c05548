"""Turn data set paths and training options into the arrays a training run consumes."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from moodlens.data.cleaning import inspect
from moodlens.data.faces import FaceData, load_dataset
from moodlens.data.labels import EMOTIONS
from moodlens.data.photo_faces import largest_face_crops
from moodlens.data.readers import DatasetError, list_dataset
from moodlens.data.sampling import stratified_split, synthesize_minorities
from moodlens.runtime.detection import load_detector
from moodlens.training.config import TrainConfig


@dataclass
class TrainingData:
    train: FaceData
    val: FaceData
    labels: list[str]  # the model's classes, in canonical order
    train_y: np.ndarray  # class index per training face
    val_y: np.ndarray
    train_targets: np.ndarray  # (N, K) target distribution per training face
    from_photos: np.ndarray  # per training face: True for a face cut from a --photos set
    report: dict = field(default_factory=dict)


def class_index(data: FaceData, labels: list[str]) -> np.ndarray:
    """Each face's index in `labels`, or -1 for a label the model does not know."""
    lookup = np.full(len(EMOTIONS), -1, dtype=np.int64)
    for i, name in enumerate(labels):
        lookup[EMOTIONS.index(name)] = i
    return lookup[data.labels]


def vote_distribution(data: FaceData, labels: list[str]) -> np.ndarray | None:
    """Each face's annotators' votes over `labels` as a distribution (all zeros where it has none over them);
    None for faces without votes."""
    if data.soft is None:
        return None
    votes = data.soft[:, [EMOTIONS.index(name) for name in labels]]
    return votes / np.maximum(votes.sum(axis=1, keepdims=True), 1)


def soft_targets(data: FaceData, labels: list[str], y: np.ndarray, votes_weight: float) -> np.ndarray:
    """One-hot targets, blended where a face has annotators' votes over `labels`:
    (1 - votes_weight) * one-hot + votes_weight * vote distribution."""
    targets = np.eye(len(labels), dtype=np.float32)[y]
    if votes_weight > 0 and data.soft is not None:
        votes = vote_distribution(data, labels)
        has_votes = votes.sum(axis=1) > 0
        blended = (1 - votes_weight) * targets + votes_weight * votes
        targets[has_votes] = blended[has_votes]
    return targets


def borrow_votes(data: FaceData, ferplus_dir: str) -> FaceData:
    """Attach the FER+ votes of `ferplus_dir` to the faces of `data` that are the same files
    (symlinks followed), e.g. the sharp FER-2013 tree of recipes/fer2013_sharp.py."""
    listing = list_dataset(ferplus_dir)
    if listing.kind != "ferplus":
        raise DatasetError(f"{ferplus_dir}: --votes-from needs a FER+ folder (with label.csv)")
    by_file = {os.path.realpath(item.key): item.votes for item in listing.items}
    empty = [0.0] * len(EMOTIONS)
    votes = [by_file.get(os.path.realpath(key), empty) for key in data.keys]
    soft = np.array(votes, dtype=np.float32).reshape(-1, len(EMOTIONS))
    if not soft.any():
        raise DatasetError(f"{ferplus_dir}: none of its faces are files of the training data")
    return dataclasses.replace(data, soft=soft)


def add_photos(train: FaceData, photo_sets: list[str], image_size: int, channels: int, report: dict) -> FaceData:
    """Append the largest face of every labelled photo, cut by the detector and crop that analysis uses,
    so that these training faces look like what the model is given at inference."""
    detector = load_detector("centerface")
    for path in photo_sets:
        faces, missed = largest_face_crops(path, detector, image_size, channels)
        report.setdefault("photos", {})[path] = {"faces": len(faces), "no_face": len(missed)}
        if train.soft is not None:  # a label counts as all of the photo's votes
            faces = dataclasses.replace(faces, soft=np.eye(len(EMOTIONS), dtype=np.float32)[faces.labels])
        train = train.concat(dataclasses.replace(faces, kind=train.kind, skipped=[], dropped={}))
    return train


def is_photo(train: FaceData, photo_keys: set[str]) -> np.ndarray:
    """Per face of `train`: True for a face cut from a --photos set."""
    return np.isin(train.keys, list(photo_keys))


def repeat_photos(train: FaceData, photo_keys: set[str], repeat: int) -> FaceData:
    """Each photo face `repeat` times, so that a small photo set weighs more against many crops."""
    extra = np.tile(np.flatnonzero(is_photo(train, photo_keys)), repeat - 1)
    return train.select(np.concatenate([np.arange(len(train)), extra]))


def _keep_known(data: FaceData, labels: list[str], role: str, report: dict) -> FaceData:
    y = class_index(data, labels)
    unknown = data.select(np.flatnonzero(y < 0))
    if len(unknown):
        report[f"{role}_left_out"] = unknown.class_counts()
    return data.select(np.flatnonzero(y >= 0))


def prepare_training_data(cfg: TrainConfig) -> TrainingData:
    """The run's faces and targets: the training data with any --photos (the detector's crops, each
    `photos_repeat` times) and borrowed votes, the validation faces, cleaning, balancing, and targets that
    blend the annotators' votes in at `votes_weight` when --votes or --votes-from asks for them."""
    votes_weight = cfg.votes_weight if cfg.votes or cfg.votes_from else 0.0
    train = load_dataset(cfg.data, cfg.image_size, cfg.channels, cfg.per_class)
    if cfg.votes_from:
        train = borrow_votes(train, cfg.votes_from)
    report: dict = {
        "train_source": cfg.data,
        "val_source": cfg.val or f"{cfg.val_split:.0%} stratified split, seed {cfg.seed}",
    }
    first_photo = len(train)
    if cfg.photos:
        train = add_photos(train, cfg.photos, cfg.image_size, cfg.channels, report)
    photo_keys = set(train.keys[first_photo:])
    if cfg.val:
        held_out = load_dataset(cfg.val, cfg.image_size, cfg.channels)
    else:
        train_idx, val_idx = stratified_split(train.labels, cfg.val_split, cfg.seed)
        train, held_out = train.select(train_idx), train.select(val_idx)
    present = set(train.class_counts())
    labels = [name for name in EMOTIONS if name in (cfg.classes or present)]
    missing = [name for name in labels if name not in present]
    if missing:
        raise DatasetError(f"{cfg.data}: no training images of class {', '.join(missing)}")
    if len(labels) < 2:
        raise DatasetError(f"{cfg.data}: training needs at least two classes, found {labels}")
    train = _keep_known(train, labels, "train", report)
    held_out = _keep_known(held_out, labels, "val", report)
    before_cleaning = len(train)
    train, quality = inspect(train, held_out, remove=cfg.clean)
    report["quality"] = quality.to_dict()
    if len(train) == 0:
        raise DatasetError(
            f"{cfg.data}: cleaning removed all {before_cleaning} training faces (duplicates, blanks or copies of "
            "validation faces): train on other data, or pass --no-clean to keep them"
        )
    if photo_keys and cfg.photos_repeat > 1:
        train = repeat_photos(train, photo_keys, cfg.photos_repeat)
    report["skipped"] = [list(pair) for pair in train.skipped + held_out.skipped]
    report["ferplus_dropped"] = {**train.dropped} if train.kind == "ferplus" else {}
    if cfg.balance == "synthesize":
        before = len(train)
        train = synthesize_minorities(train, cfg.seed)
        report["synthesized"] = len(train) - before
    train_y = class_index(train, labels)
    report["train_counts"] = train.class_counts()
    report["val_counts"] = held_out.class_counts()
    return TrainingData(
        train=train,
        val=held_out,
        labels=labels,
        train_y=train_y,
        val_y=class_index(held_out, labels),
        train_targets=soft_targets(train, labels, train_y, votes_weight),
        from_photos=is_photo(train, photo_keys),
        report=report,
    )
