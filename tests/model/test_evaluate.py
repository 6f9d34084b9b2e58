from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import NEGATIVE, POSITIVE, make
from textclf.core.params import EvaluateParams, PrepareParams, TrainParams
from textclf.ml.metrics import compute_curves, compute_metrics
from textclf.ml.model import build_pipeline
from textclf.ml.scoring import Scores
from textclf.pipeline.evaluate import evaluate


def test_binary_metrics_known_values() -> None:
    classes = np.array(["neg", "pos"])
    actual = np.array(["pos", "pos", "neg", "neg"])
    proba = np.array([[0.1, 0.9], [0.6, 0.4], [0.8, 0.2], [0.7, 0.3]])
    metrics = compute_metrics(actual, Scores(classes, proba))
    assert metrics["accuracy"] == 0.75
    assert metrics["roc_auc"] == 1.0  # every positive outranks every negative
    assert metrics["per_class"]["pos"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(0.666667),
        "support": 2,
    }
    expected_log_loss = -np.mean(np.log([0.9, 0.4, 0.8, 0.7]))
    assert metrics["log_loss"] == pytest.approx(expected_log_loss, abs=1e-6)


def test_multiclass_metrics_and_curves() -> None:
    classes = np.array(["a", "b", "c"])
    actual = np.array(["a", "b", "c", "c"])
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]])
    metrics = compute_metrics(actual, Scores(classes, proba))
    assert metrics["accuracy"] == 0.75
    assert set(metrics["per_class"]) == {"a", "b", "c"}
    assert 0 < metrics["roc_auc"] <= 1
    curves = compute_curves(actual, Scores(classes, proba), bins=2)
    assert set(curves) == {"roc", "precision_recall", "calibration"}
    assert curves["roc"]["fpr"].is_monotonic_increasing


def test_auc_and_log_loss_skipped_when_a_class_is_absent() -> None:
    scores = Scores(np.array(["a", "b"]), np.array([[0.9, 0.1], [0.6, 0.4]]))
    metrics = compute_metrics(np.array(["a", "a"]), scores)
    assert "roc_auc" not in metrics and "log_loss" not in metrics
    assert metrics["accuracy"] == 1.0


def test_evaluate_outputs() -> None:
    texts = POSITIVE * 2 + NEGATIVE * 2
    labels = ["pos"] * 8 + ["neg"] * 8
    params = make(
        TrainParams, vectorizer={"kind": "tfidf"}, classifier={"kind": "logreg", "C": 10.0}
    )
    model = build_pipeline(params, make(PrepareParams)).fit(texts, labels)
    test = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "text": ["great film", "awful film", "great awful"],
            "label": ["pos", "neg", "neg"],
        }
    )
    result = evaluate(model, test, make(EvaluateParams, worst_errors=5, calibration_bins=2))
    assert list(result.predictions.columns) == [
        "id",
        "actual",
        "predicted",
        "confidence",
        "correct",
    ]
    assert result.metrics["test_rows"] == 3
    wrong = result.predictions[~result.predictions["correct"]]
    assert (
        result.worst_errors["id"].tolist()
        == wrong.sort_values("confidence", ascending=False)["id"].tolist()
    )
    assert "text" in result.worst_errors
