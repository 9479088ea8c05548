import json

import numpy as np
import onnx
import onnx.numpy_helper

from moodlens.data.faces import load_dataset
from moodlens.runtime.classifier import OnnxClassifier

from conftest import FER_TRAIN, FER_VAL, run_cli


def test_export_agrees_with_pytorch_and_keeps_int8_only_if_accurate(tiny_run, tmp_path):
    out = tmp_path / "tiny.onnx"
    result = run_cli("export", tiny_run, "--out", out, "--data", FER_VAL, "--calibration", FER_TRAIN)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["max_abs_prob_diff_torch_vs_onnx"] < 1e-4
    assert report["faces"] == 895 + 415 + 607
    assert not out.with_name(out.name + ".data").exists()  # the weights are inside the .onnx file
    if report["int8_kept"]:
        assert report["fp32_accuracy"] - report["int8_accuracy"] <= 0.005
        int8 = onnx.load(report["int8"])
        assert int8.metadata_props
        weights = [
            onnx.numpy_helper.to_array(t) for t in int8.graph.initializer if t.data_type == onnx.TensorProto.INT8
        ]
        assert weights and all(abs(w.astype(int)).max() <= 64 for w in weights)  # 7 bits: no AVX2 saturation
    else:
        assert not out.with_suffix(".int8.onnx").exists()

    classifier = OnnxClassifier(out)
    assert classifier.labels == ["happy", "surprise", "neutral"]
    faces = load_dataset(FER_VAL, per_class=5).images
    probs = classifier.predict(faces, batch_size=16, tta="flip")
    assert probs.shape == (35, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    mirrored = np.ascontiguousarray(faces[:, :, ::-1])
    assert np.allclose(probs, (classifier.predict(faces) + classifier.predict(mirrored)) / 2, atol=1e-5)

    evaluation = run_cli("eval", FER_VAL, "--model", out, "--out", tmp_path / "eval")
    assert evaluation.returncode == 0, evaluation.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert abs(metrics["accuracy"] - report["fp32_accuracy"]) < 1e-6
