"""Emotion classification with ONNX Runtime alone: no PyTorch needed at inference time."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from moodlens.runtime.calibration import Calibration, calibration_path
from moodlens.runtime.errors import MoodlensError


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Options for every ONNX Runtime session of ours.

    Worker threads spin between the operators of a run (sleeping there made a photo up to 1.3 times slower)
    and stop when the run returns: where a detector and a classifier take turns, a pool still spinning after
    its run takes the cores the other needs (up to 2.7 times slower; benchmarks/results/analysis_threads*.json).
    """
    ort.disable_telemetry_events()  # for processes that imported onnxruntime before moodlens set its opt-out
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    if threads:
        options.intra_op_num_threads = threads
    return options


class OnnxClassifier:
    """Loads a model written by `moodlens export` and classifies uint8 faces in batches, its probabilities
    calibrated by the `<model>.calibration.json` beside it where there is one (`calibrated=False`: raw)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, calibrated: bool = True):
        options = session_options(threads)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime's own exception types, one per kind of broken file
            raise MoodlensError(f"{path}: not an ONNX model ({str(e).splitlines()[0][:200]})") from e
        meta = self.session.get_modelmeta().custom_metadata_map
        if not {"labels", "image_size", "channels"} <= set(meta):
            raise MoodlensError(f"{path}: an ONNX model, but not one written by `moodlens export` (no labels in it)")
        self.labels: list[str] = json.loads(meta["labels"])
        self.image_size = int(meta["image_size"])
        self.channels = int(meta["channels"])
        self.input_name = self.session.get_inputs()[0].name
        self.path = Path(path)
        self.calibration: Calibration | None = None
        if calibrated and calibration_path(path).is_file():
            self.calibration = Calibration.load(calibration_path(path))
            if self.calibration.labels != self.labels:
                raise MoodlensError(f"{calibration_path(path)}: its emotions are not the model's ({self.labels})")

    def predict(self, faces: np.ndarray, batch_size: int = 256, tta: str | None = None) -> np.ndarray:
        """Class probabilities (N, K) for faces (N, S, S, C) uint8 at the model's size and channels."""
        if faces.shape[1:] != (self.image_size, self.image_size, self.channels):
            raise ValueError(f"faces must be (N, {self.image_size}, {self.image_size}, {self.channels}) uint8")
        out = []
        for start in range(0, len(faces), batch_size):
            x = model_input(faces[start : start + batch_size])
            if tta == "flip":  # faces and their mirrors in one call: half the per-call overhead
                probs = softmax(self.session.run(None, {self.input_name: np.concatenate([x, x[..., ::-1]])})[0])
                probs = (probs[: len(x)] + probs[len(x) :]) / 2
            else:
                probs = softmax(self.session.run(None, {self.input_name: x})[0])
            out.append(probs)
        probs = np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)
        return self.calibration.apply(probs) if self.calibration else probs


PIXEL_SCALE = 127.5  # the models see a pixel p as p / PIXEL_SCALE - 1, in [-1, 1]


def model_input(faces: np.ndarray) -> np.ndarray:
    """(N, S, S, C) uint8 faces -> (N, C, S, S) float32 in [-1, 1]: what the models see, in training too."""
    return faces.transpose(0, 3, 1, 2).astype(np.float32) / PIXEL_SCALE - 1.0


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
