"""Evaluate: metrics (with 95% intervals, calibration error and what abstention gives), curve
data for `dvc plots`, per-row predictions and worst errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from textclf.core.files import write_csv, write_json
from textclf.core.layout import Layout
from textclf.core.params import EvaluateParams, Params, PredictParams
from textclf.core.tables import read_stage_output
from textclf.ml.metrics import (
    abstention_metrics,
    bootstrap_intervals,
    compute_curves,
    compute_metrics,
    coverage_curve,
)
from textclf.ml.persist import load_model_file
from textclf.ml.workers import score_all
from textclf.pipeline.figures import save_figures


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


def run(params: Params, layout: Layout) -> dict:
    """The evaluate stage: metrics, plots, figures and the worst errors on the test split."""
    model = load_model_file(layout.model).pipeline
    test = read_stage_output(layout.test_split, "prepare")
    batch = params.batch
    result = evaluate(model, test, params.evaluate, params.predict, batch.workers, batch.chunk_rows)
    write_json(result.metrics, layout.metrics)
    write_csv(result.predictions, layout.predictions)
    for name, curve in result.curves.items():
        write_csv(curve, layout.plots / f"{name}.csv")
    write_csv(result.worst_errors, layout.worst_errors)
    save_figures(result.predictions, result.curves, layout.figures)
    return result.metrics
