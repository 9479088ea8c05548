"""Knowledge distillation: trained models ("teachers") lend their predictions to a student's targets.

The teachers score every training face once, before the first epoch (the face as stored, with its mirror),
and the student's targets blend their mean prediction in. Those predictions are kept in the run directory
(TEACHER_FILE, keyed by the digest of each face's file), so that a resumed run, on another machine too, and
any later student given that file as its --teacher never need the teachers themselves again.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from moodlens.data.faces import FaceData
from moodlens.data.readers import DatasetError
from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.files import write_atomic
from moodlens.training.checkpoints import load_matching_model
from moodlens.training.config import TrainConfig
from moodlens.training.data import TrainingData
from moodlens.training.inference import predict_probs

TEACHER_FILE = "teacher_probs.npz"


def is_prediction_file(source: str) -> bool:
    return source.endswith(".npz")


def model_predictions(
    source: str, faces: FaceData, labels: list[str], device: torch.device, precision: str
) -> dict[str, np.ndarray]:
    """A teacher model's class probabilities (flip TTA) for each distinct face of `faces`, by digest."""
    model, _ = load_matching_model(source, labels, faces.images.shape[1], faces.images.shape[3], "teacher")
    model = model.to(device, memory_format=torch.channels_last)
    digests, first = np.unique(np.array(faces.digests), return_index=True)
    probs = predict_probs(model, faces.images[first], precision=precision, tta="flip")
    return dict(zip(digests.tolist(), probs, strict=True))


def read_predictions(path: str | Path, labels: list[str]) -> dict[str, np.ndarray]:
    """A prediction file's class probabilities by face digest; its classes must be the student's."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            file_labels, digests, probs = npz["labels"].tolist(), npz["digests"].tolist(), npz["probs"]
    except (KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"teacher {path}: not a file of teacher predictions (a run's {TEACHER_FILE})") from e
    if file_labels != labels:
        raise MoodlensError(f"teacher {path} predicts {file_labels}, the model being trained {labels}")
    return dict(zip(digests, probs, strict=True))


def write_predictions(path: Path, faces: FaceData, labels: list[str], probs: np.ndarray, sources: list[str]) -> None:
    """Keep one prediction per distinct face, with the names of the teachers (1.6 MB for the 27,509 faces of
    FER+ and the muxspace photos)."""
    digests, first = np.unique(np.array(faces.digests), return_index=True)
    arrays = {
        "digests": digests,
        "probs": probs[first],
        "labels": np.array(labels),
        "teachers": np.array(sources),
    }
    write_atomic(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def per_face(predictions: dict[str, np.ndarray], faces: FaceData, source: str) -> np.ndarray:
    missing = [key for key, digest in zip(faces.keys, faces.digests, strict=True) if digest not in predictions]
    if missing:
        raise DatasetError(f"teacher {source} has no prediction for {len(missing)} training faces, e.g. {missing[0]}")
    return np.stack([predictions[digest] for digest in faces.digests])


def teacher_probs(
    sources: list[str], faces: FaceData, labels: list[str], device: torch.device, precision: str
) -> np.ndarray:
    """The mean prediction (N, K) of the teachers, models or prediction files, for each training face."""
    probs = []
    for source in sources:
        if is_prediction_file(source):
            predictions = read_predictions(source, labels)
        else:
            predictions = model_predictions(source, faces, labels, device, precision)
        probs.append(per_face(predictions, faces, source))
    return np.mean(probs, axis=0, dtype=np.float32)


def distilled_targets(
    cfg: TrainConfig, td: TrainingData, run_dir: Path, resume: bool, device: torch.device, precision: str, rank: int
) -> np.ndarray:
    """(1 - w) * the data's targets + w * the teachers' mean prediction, where w is teacher_weight
    (photos_teacher_weight for --photos faces when given); a resumed run reads the predictions its start kept,
    a new one keeps them (rank 0)."""
    kept = run_dir / TEACHER_FILE
    reuse = resume and kept.exists()
    probs = teacher_probs([str(kept)] if reuse else cfg.teachers, td.train, td.labels, device, precision)
    if rank == 0 and not reuse:
        write_predictions(kept, td.train, td.labels, probs, cfg.teachers)
    weight = np.full((len(td.train), 1), cfg.teacher_weight, dtype=np.float32)
    if cfg.photos_teacher_weight is not None:
        weight[td.from_photos] = cfg.photos_teacher_weight
    return (1 - weight) * td.train_targets + weight * probs
