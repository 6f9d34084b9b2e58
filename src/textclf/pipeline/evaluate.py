"""Evaluate: metrics (with 95% intervals, calibration error and what abstention gives), curve
data for `dvc plots`, per-row predictions and worst errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from textclf.core.params import EvaluateParams, PredictParams
from textclf.ml.metrics import (
    abstention_metrics,
    bootstrap_intervals,
    compute_curves,
    compute_metrics,
    coverage_curve,
)
from textclf.ml.workers import score_all


@dataclass
class Evaluation:
    metrics: dict
    predictions: pd.DataFrame  # id, actual, predicted, confidence, correct: per test row
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    worst_errors: pd.DataFrame = field(default_factory=pd.DataFrame)


def evaluate(
    model: Pipeline,
    test: pd.DataFrame,
    params: EvaluateParams,
    answers: PredictParams,
    workers: int | None = 1,
    chunk_rows: int = 5000,
) -> Evaluation:
    """`workers` processes score `chunk_rows` texts at a time (the batch settings); the
    scores do not depend on either."""
    texts = test["text"].tolist()
    scores = score_all(model, texts, answers.min_confidence, workers, chunk_rows)
    actual = test["label"].astype(str).to_numpy()
    metrics = compute_metrics(actual, scores)
    metrics["intervals"] = bootstrap_intervals(
        actual, scores.labels, scores.classes, params.bootstrap_resamples, params.seed
    )
    metrics["abstention"] = abstention_metrics(actual, scores)
    curves = compute_curves(actual, scores, params.calibration_bins)
    curves["coverage"] = coverage_curve(actual, scores)
    predictions = pd.DataFrame(
        {
            "id": test["id"].astype(str).to_numpy(),
            "actual": actual,
            "predicted": scores.labels,
            "confidence": np.round(scores.confidence, 6),
            "correct": actual == scores.labels,
        }
    )
    wrong = predictions.assign(text=test["text"].to_numpy())[~predictions["correct"]]
    worst = wrong.sort_values("confidence", ascending=False).head(params.worst_errors)
    return Evaluation(
        metrics=metrics,
        predictions=predictions,
        curves=curves,
        worst_errors=worst[["id", "actual", "predicted", "confidence", "text"]],
    )
