import numpy as np
import pytest

from moodlens.runtime.metrics import classification_metrics, confusion_matrix


def test_metrics_match_a_hand_computed_confusion_matrix():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 2, 1, 1, 0, 2, 2, 1])
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    m = classification_metrics(cm, ["angry", "happy", "sad"])
    assert m["accuracy"] == pytest.approx(6 / 10)
    # precision = TP / column sum, recall = TP / row sum
    assert m["per_class"]["angry"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["angry"]["recall"] == pytest.approx(2 / 4)
    assert m["per_class"]["happy"]["precision"] == pytest.approx(2 / 4)
    assert m["per_class"]["sad"]["recall"] == pytest.approx(2 / 3)
    f1_angry = 2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2)
    assert m["per_class"]["angry"]["f1"] == pytest.approx(f1_angry)
    assert m["balanced_accuracy"] == pytest.approx((2 / 4 + 2 / 3 + 2 / 3) / 3)
    assert m["per_class"]["happy"]["support"] == 3


def test_classes_without_support_do_not_count_in_macro_averages():
    cm = np.array([[3, 1, 0], [0, 4, 0], [0, 0, 0]])
    m = classification_metrics(cm, ["a", "b", "c"])
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1) / 2)
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
