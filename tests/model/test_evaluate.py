from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import NEGATIVE, POSITIVE, make
from textclf.core.params import EvaluateParams, PredictParams, PrepareParams, TrainParams
from textclf.ml.metrics import (
    abstention_metrics,
    bootstrap_intervals,
    compute_curves,
    compute_metrics,
    coverage_curve,
    expected_calibration_error,
)
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
        TrainParams,
        word_vectors=None,
        vectorizer={"kind": "tfidf"},
        classifier={"kind": "logreg", "C": 10.0},
    )
    model = build_pipeline(params, make(PrepareParams)).fit(texts, labels)
    test = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "text": ["great film", "awful film", "great awful"],
            "label": ["pos", "neg", "neg"],
        }
    )
    result = evaluate(
        model,
        test,
        make(EvaluateParams, worst_errors=5, calibration_bins=2),
        make(PredictParams, min_confidence=0.6),
    )
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
    abstention = result.metrics["abstention"]
    assert abstention["coverage"] + abstention["abstained"] == pytest.approx(1.0)
    assert abstention["min_confidence"] == 0.6
    assert set(result.metrics["intervals"]) == {"accuracy", "macro_f1"}
    assert result.curves["coverage"]["coverage"].iloc[-1] == 1.0


def test_expected_calibration_error_known_value() -> None:
    # bin [0.9, 0.97): confidence 0.9 twice, right once -> gap 0.4; bin [0.6, 0.67): 0.6, right
    # -> gap 0.4; weights 2/3 and 1/3.
    correct = np.array([True, False, True])
    confidence = np.array([0.9, 0.9, 0.6])
    assert expected_calibration_error(correct, confidence) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([True] * 4), np.ones(4)) == 0.0


def test_abstention_coverage_plus_abstained_is_one_and_accuracy_is_of_the_answered() -> None:
    classes = np.array(["neg", "pos"])
    proba = np.array([[0.1, 0.9], [0.45, 0.55], [0.3, 0.7], [0.8, 0.2], [0.58, 0.42]])
    actual = np.array(["pos", "neg", "neg", "neg", "pos"])
    scores = Scores(classes, proba, min_confidence=0.6)
    assert scores.answers.tolist() == ["pos", "uncertain", "pos", "neg", "uncertain"]
    assert scores.labels.tolist() == ["pos", "pos", "pos", "neg", "neg"]  # metrics use these
    result = abstention_metrics(actual, scores)
    assert result["coverage"] == 0.6 and result["abstained"] == 0.4
    assert result["coverage"] + result["abstained"] == 1.0
    assert result["accuracy_answered"] == pytest.approx(2 / 3, abs=1e-6)
    # the 90% most confident: 5 * 0.9 -> 4 texts (0.9, 0.8, 0.7, 0.58): right on 2
    assert result["accuracy_at_90_coverage"] == 0.5
    curve = coverage_curve(actual, scores)
    assert curve["coverage"].is_monotonic_increasing
    assert curve["min_confidence"].is_monotonic_decreasing
    assert curve["accuracy"].iloc[-1] == pytest.approx(0.4)  # full coverage: plain accuracy
    assert compute_metrics(actual, scores)["accuracy"] == 0.4


def test_bootstrap_intervals_contain_the_estimate_and_are_seeded() -> None:
    rng = np.random.default_rng(0)
    actual = rng.choice(["a", "b"], 400)
    predicted = np.where(rng.random(400) < 0.8, actual, np.where(actual == "a", "b", "a"))
    first = bootstrap_intervals(actual, predicted, np.array(["a", "b"]), 500, seed=1)
    accuracy = (actual == predicted).mean()
    assert first["accuracy"]["low"] < accuracy < first["accuracy"]["high"]
    assert first["accuracy"]["high"] - first["accuracy"]["low"] < 0.1
    assert first == bootstrap_intervals(actual, predicted, np.array(["a", "b"]), 500, seed=1)
