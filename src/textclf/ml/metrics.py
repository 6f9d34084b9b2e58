"""Metrics and curves of scored texts against their true labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from textclf.ml.scoring import Scores

# The metrics the promotion rule may compare, and which way is better.
HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "roc_auc": True, "log_loss": False}


def compute_metrics(actual: np.ndarray, scores: Scores) -> dict:
    classes, proba, predicted = scores.classes, scores.proba, scores.labels
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        actual, predicted, labels=classes, zero_division=0
    )
    result: dict = {
        "accuracy": skm.accuracy_score(actual, predicted),
        "macro_f1": skm.f1_score(
            actual, predicted, labels=classes, average="macro", zero_division=0
        ),
        "test_rows": len(actual),
    }
    if np.isin(classes, actual).all():
        # ROC-AUC and log-loss are defined only when every class the model knows is in the test set.
        if len(classes) == 2:
            result["roc_auc"] = skm.roc_auc_score(actual == classes[1], proba[:, 1])
        else:
            result["roc_auc"] = skm.roc_auc_score(
                actual, proba, multi_class="ovr", average="macro", labels=classes
            )
        result["log_loss"] = skm.log_loss(actual, proba, labels=classes)
    result["per_class"] = {
        str(label): {
            "precision": precision[i],
            "recall": recall[i],
            "f1": f1[i],
            "support": int(support[i]),
        }
        for i, label in enumerate(classes)
    }
    return _rounded(result)


def compute_curves(actual: np.ndarray, scores: Scores, bins: int) -> dict[str, pd.DataFrame]:
    """ROC and precision-recall for the positive class (binary) or micro-averaged (multi-class),
    and a reliability curve of the top-label confidence."""
    classes, proba = scores.classes, scores.proba
    if len(classes) == 2:
        truth, score = (actual == classes[1]).astype(int), proba[:, 1]
    else:
        truth = (actual[:, None] == classes[None, :]).astype(int).ravel()
        score = proba.ravel()
    curves: dict[str, pd.DataFrame] = {}
    if 0 < truth.sum() < len(truth):
        fpr, tpr, _ = skm.roc_curve(truth, score)
        curves["roc"] = pd.DataFrame({"fpr": fpr, "tpr": tpr}).round(5)
        precision, recall, _ = skm.precision_recall_curve(truth, score)
        curves["precision_recall"] = _thin(
            pd.DataFrame({"recall": recall, "precision": precision}).round(5)
        )
    fraction_correct, mean_confidence = calibration_curve(
        (scores.labels == actual).astype(int), scores.confidence, n_bins=bins, strategy="quantile"
    )
    curves["calibration"] = pd.DataFrame(
        {"mean_confidence": mean_confidence, "fraction_correct": fraction_correct}
    ).round(5)
    return curves


def _thin(curve: pd.DataFrame, points: int = 1000) -> pd.DataFrame:
    """Keep plot files small: evenly spaced rows, always including both ends."""
    if len(curve) <= points:
        return curve
    keep = np.unique(np.linspace(0, len(curve) - 1, points).round().astype(int))
    return curve.iloc[keep].reset_index(drop=True)


def _rounded(value: object) -> object:
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, float | np.floating):
        return round(float(value), 6)
    return value
