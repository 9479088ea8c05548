import json

import numpy as np

from conftest import FER_VAL, FERPLUS_VALID, MUXSPACE, run_cli


def test_eval_writes_metrics_pictures_and_report(tiny_run, tmp_path):
    out = tmp_path / "eval"
    result = run_cli("eval", FER_VAL, "--model", tiny_run, "--out", out, "--per-class", "40")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"] == ["happy", "surprise", "neutral"]
    # the four classes the model never learnt are reported and left out, not mapped
    assert metrics["left_out"] == {"angry": 40, "disgust": 40, "fear": 40, "sad": 40}
    assert metrics["samples"] == 120
    cm = np.array(metrics["confusion_matrix"])
    assert cm.sum() == 120 and np.isclose(metrics["accuracy"], np.trace(cm) / 120)
    assert set(metrics["per_class"]["happy"]) == {"precision", "recall", "f1", "support"}
    page = (out / "report.html").read_text()
    for picture in ("confusion_matrix.png", "per_class.png", "training_curves.png", "mistakes.png"):
        assert (out / picture).stat().st_size > 5_000
        assert picture in page
    assert "accuracy" in result.stdout and "left out" in result.stdout


def test_eval_with_flip_tta_on_ferplus_and_muxspace(tiny_run, tmp_path):
    for data in (FERPLUS_VALID, MUXSPACE):
        out = tmp_path / data.name
        options = ["--tta", "flip", "--per-class", "50"]  # 150 faces of the model's three classes
        result = run_cli("eval", data, "--model", tiny_run / "best.pt", "--out", out, *options)
        assert result.returncode == 0, result.stderr
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["tta"] == "flip" and metrics["samples"] > 100
        assert "contempt" in metrics["left_out"]
