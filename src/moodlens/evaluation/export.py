"""`moodlens export`: a trained model to ONNX (fp32), and int8 when quantisation keeps its accuracy."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from moodlens import __version__
from moodlens.data.faces import load_dataset
from moodlens.runtime.calibration import calibration_path
from moodlens.runtime.classifier import PIXEL_SCALE, OnnxClassifier, model_input
from moodlens.runtime.files import write_atomic
from moodlens.training.checkpoints import load_model
from moodlens.training.data import class_index
from moodlens.training.inference import predict_probs

INT8_TOLERANCE = 0.005  # largest accuracy drop (absolute) for which the int8 model is kept


class FaceBatches(CalibrationDataReader):
    """Feeds real faces to ONNX Runtime's calibration, one batch at a time."""

    def __init__(self, faces: np.ndarray, input_name: str, batch_size: int = 64):
        x = model_input(faces)
        self.batches = iter([{input_name: x[i : i + batch_size]} for i in range(0, len(x), batch_size)])

    def get_next(self) -> dict | None:
        return next(self.batches, None)


def write_fp32(model: torch.nn.Module, cfg, labels: list[str], path: Path) -> None:
    example = torch.zeros(2, cfg.in_channels, cfg.image_size, cfg.image_size)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["faces"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            external_data=False,  # the weights inside the .onnx file, with no .onnx.data beside it
            verbose=False,
        )
    proto = onnx.load(str(path))
    meta = {
        "labels": json.dumps(labels),
        "image_size": str(cfg.image_size),
        "channels": str(cfg.in_channels),
        "normalisation": f"x / {PIXEL_SCALE} - 1",
        "moodlens_version": __version__,
    }
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(1) == y).mean())


def export(
    model_name: str,
    out: str,
    data: str,
    calibration: str | None = None,
    int8: bool = True,
    per_class: int | None = None,
) -> dict:
    """Write OUT (fp32) and, if it stays within INT8_TOLERANCE on `data`, OUT's .int8.onnx sibling.

    `data` is a labelled data set (e.g. the validation split) used to check that ONNX Runtime agrees
    with PyTorch and to compare fp32 and int8 accuracy; int8 activations are calibrated on
    `calibration` faces (e.g. the training split), or on `data` when none is given.
    """
    model, cfg, labels, checkpoint = load_model(model_name)
    fp32_path = Path(out)
    fp32_path.parent.mkdir(parents=True, exist_ok=True)
    write_fp32(model, cfg, labels, fp32_path)
    faces = load_dataset(data, cfg.image_size, cfg.in_channels, per_class)
    y = class_index(faces, labels)
    faces, y = faces.select(np.flatnonzero(y >= 0)), y[y >= 0]
    torch_probs = predict_probs(model, faces.images, precision="fp32")
    onnx_probs = OnnxClassifier(fp32_path).predict(faces.images)
    result = {
        "checkpoint": str(checkpoint),
        "data": data,
        "faces": len(y),
        "fp32": str(fp32_path),
        "max_abs_prob_diff_torch_vs_onnx": float(np.abs(torch_probs - onnx_probs).max()),
        "fp32_accuracy": accuracy(onnx_probs, y),
    }
    if int8:
        calibration_faces = (
            load_dataset(calibration, cfg.image_size, cfg.in_channels, 100).images if calibration else faces.images
        )
        result.update(quantize(fp32_path, calibration_faces, faces.images, y, result["fp32_accuracy"]))
    for stale in (fp32_path, fp32_path.with_suffix(".int8.onnx")):  # measured on the model this one replaced
        calibration_path(stale).unlink(missing_ok=True)
    write_atomic(fp32_path.with_suffix(".json"), json.dumps(result, indent=2))
    return result


def quantize(fp32_path: Path, calibration: np.ndarray, faces: np.ndarray, y: np.ndarray, fp32_accuracy: float) -> dict:
    int8_path = fp32_path.with_suffix(".int8.onnx")
    prepared = fp32_path.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32_path), str(prepared))
    calibration = calibration[np.random.default_rng(0).permutation(len(calibration))[:512]]
    quantize_static(
        str(prepared),
        str(int8_path),
        FaceBatches(calibration, "faces"),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        # 7-bit weights: CPUs without VNNI (AVX2 alone, AVX-512 before Cascade Lake) multiply uint8 by int8
        # with VPMADDUBSW, whose int16 sums saturate with 8-bit weights; the shipped default lost 0.7 points
        # of FER+ accuracy to it there, and keeps all of them with 7 bits (benchmarks/results/accuracy*.json)
        reduce_range=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    prepared.unlink()
    proto = onnx.load(str(int8_path))  # quantisation drops custom metadata: carry it over
    del proto.metadata_props[:]
    proto.metadata_props.extend(onnx.load(str(fp32_path)).metadata_props)
    onnx.save(proto, str(int8_path))
    int8_accuracy = accuracy(OnnxClassifier(int8_path).predict(faces), y)
    kept = fp32_accuracy - int8_accuracy <= INT8_TOLERANCE
    if not kept:
        int8_path.unlink()
    return {"int8": str(int8_path) if kept else None, "int8_accuracy": int8_accuracy, "int8_kept": kept}
