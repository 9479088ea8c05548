"""`moodlens eval`: score a model on any supported data set and write metrics, pictures and a report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from moodlens.data.faces import load_dataset
from moodlens.data.photo_faces import largest_face_crops
from moodlens.data.readers import DatasetError
from moodlens.evaluation import report
from moodlens.runtime.calibration import ece, nll
from moodlens.runtime.classifier import OnnxClassifier
from moodlens.runtime.detection import load_detector
from moodlens.runtime.errors import MoodlensError
from moodlens.runtime.files import write_atomic
from moodlens.runtime.metrics import classification_metrics, confusion_matrix
from moodlens.runtime.weights import is_onnx
from moodlens.training.checkpoints import load_model
from moodlens.training.data import class_index, vote_distribution
from moodlens.training.inference import predict_probs, resolve_precision


def read_run_log(checkpoint: Path) -> list[dict]:
    log = checkpoint.parent / "metrics.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


Predictor = Callable[[np.ndarray, str | None], np.ndarray]


def load_predictor(
    model_name: str, precision: str, batch_size: int
) -> tuple[list[str], Path, tuple[int, int], Predictor]:
    """A PyTorch checkpoint or an exported .onnx model as (labels, path, (size, channels), predict)."""
    if is_onnx(model_name):
        onnx_model = OnnxClassifier(model_name)
        shape = (onnx_model.image_size, onnx_model.channels)
        return onnx_model.labels, Path(model_name), shape, lambda faces, tta: onnx_model.predict(faces, batch_size, tta)
    model, cfg, labels, checkpoint = load_model(model_name)
    resolved = resolve_precision(precision)
    shape = (cfg.image_size, cfg.in_channels)
    return labels, checkpoint, shape, lambda faces, tta: predict_probs(model, faces, batch_size, resolved, tta)


def evaluate(
    data_path: str,
    model_name: str,
    out: str,
    tta: str | None = None,
    per_class: int | None = None,
    precision: str = "auto",
    batch_size: int = 256,
    detect: str | None = None,
) -> dict:
    """Score `model_name` on `data_path`; write metrics.json, PNGs and report.html into `out`.

    With `detect` (a detector name) the data are uncropped photos: the largest face found in each
    is scored, and photos without a face count as wrong in `accuracy_with_misses`.
    """
    if tta not in (None, "flip"):
        raise MoodlensError(f"--tta must be flip, got {tta!r}")
    labels, checkpoint, (size, channels), predict = load_predictor(model_name, precision, batch_size)
    missed: list[str] = []
    if detect:
        data, missed = largest_face_crops(data_path, load_detector(detect), size, channels, per_class=per_class)
    else:
        data = load_dataset(data_path, size, channels, per_class)
    y = class_index(data, labels)
    left_out = data.select(np.flatnonzero(y < 0)).class_counts()
    known = np.flatnonzero(y >= 0)
    if not len(known):
        raise DatasetError(f"{data_path}: none of its labels ({', '.join(left_out)}) are known to the model")
    data, y = data.select(known), y[known]
    start = time.perf_counter()
    probs = predict(data.images, tta)
    seconds = time.perf_counter() - start
    metrics = classification_metrics(confusion_matrix(y, probs.argmax(1), len(labels)), labels)
    metrics.update(calibration_metrics(probs, y, data, labels))
    metrics.update(
        model=str(checkpoint),
        data=str(data_path),
        tta=tta,
        left_out=left_out,
        skipped_count=len(data.skipped),
        skipped=[list(pair) for pair in data.skipped],
        faces_per_s=len(y) / seconds,
    )
    if detect:
        missed_known = sum(name in labels for name in missed)
        correct = metrics["accuracy"] * metrics["samples"]
        metrics.update(detector=detect, no_face=missed_known, accuracy_with_misses=correct / (len(y) + missed_known))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2))
    write_figures(out_dir, metrics, data.images, y, probs, read_run_log(checkpoint))
    return metrics


def calibration_metrics(probs: np.ndarray, y: np.ndarray, data, labels: list[str]) -> dict:
    """How well the scores say how sure the model is: ECE and NLL, and NLL against the annotators' votes
    where the data carry them (FER+)."""
    out = {"ece": ece(probs, y), "nll": nll(probs, np.eye(len(labels))[y])}
    votes = vote_distribution(data, labels)
    if votes is not None:
        voted = votes.sum(axis=1) > 0
        out["nll_votes"] = nll(probs[voted], votes[voted])
    return out


def write_figures(
    out_dir: Path, metrics: dict, images: np.ndarray, y: np.ndarray, probs: np.ndarray, run_log: list[dict]
) -> None:
    labels = metrics["labels"]
    figures = [("confusion matrix", "confusion_matrix.png"), ("per-class scores", "per_class.png")]
    report.plot_confusion(np.array(metrics["confusion_matrix"]), labels, out_dir / "confusion_matrix.png")
    report.plot_per_class(metrics["per_class"], out_dir / "per_class.png")
    if run_log:
        report.plot_curves(run_log, out_dir / "training_curves.png")
        figures.append(("training curves", "training_curves.png"))
    if report.plot_mistakes(images, y, probs, labels, out_dir / "mistakes.png"):
        figures.append(("most confident mistakes", "mistakes.png"))
    report.write_html(out_dir, metrics, figures)
