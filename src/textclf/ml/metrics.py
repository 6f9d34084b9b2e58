"""Metrics and curves of scored texts against their true labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from textclf.ml.scoring import UNCERTAIN, Scores

# The metrics the promotion rule may compare (and reports mark), and which way is better.
HIGHER_IS_BETTER = {
    "accuracy": True,
    "macro_f1": True,
    "roc_auc": True,
    "log_loss": False,
    "ece": False,
}
# The headline metrics, in the order reports list them.
HEADLINE = tuple(HIGHER_IS_BETTER)
# Expected calibration error over 15 equal-width confidence bins (Guo et al., 2017): fixed, so
# every run's ECE is comparable whatever the plot settings.
ECE_BINS = 15


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
        "ece": expected_calibration_error(predicted == actual, scores.confidence),
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


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray) -> float:
    """Mean gap between confidence and accuracy, weighted by the share of texts per bin."""
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    gap = 0.0
    for b in np.unique(bins):
        inside = bins == b
        gap += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(gap)


def abstention_metrics(actual: np.ndarray, scores: Scores) -> dict:
    """What answering only above `scores.min_confidence` gives: the share answered (coverage),
    the share abstained, and the accuracy on the answered texts; and, for comparison, the
    accuracy on the 90% most confident texts."""
    answered = scores.answers != UNCERTAIN
    correct = scores.labels == actual
    coverage = float(answered.mean())
    ranked = correct[np.argsort(-scores.confidence, kind="stable")]
    top90 = ranked[: max(1, round(0.9 * len(ranked)))]
    return _rounded(
        {
            "min_confidence": scores.min_confidence,
            "coverage": coverage,
            "abstained": 1.0 - coverage,
            "accuracy_answered": float(correct[answered].mean()) if answered.any() else None,
            "accuracy_at_90_coverage": float(top90.mean()),
        }
    )


def coverage_curve(actual: np.ndarray, scores: Scores, points: int = 200) -> pd.DataFrame:
    """Accuracy of the most confident share of texts, for every share: the price of answering
    more. `min_confidence` is the threshold that answers that share."""
    order = np.argsort(-scores.confidence, kind="stable")
    correct = (scores.labels == actual)[order]
    answered = np.arange(1, len(correct) + 1)
    curve = pd.DataFrame(
        {
            "coverage": answered / len(correct),
            "accuracy": np.cumsum(correct) / answered,
            "min_confidence": scores.confidence[order],
        }
    ).round(5)
    return _thin(curve, points)


def bootstrap_intervals(
    actual: np.ndarray, predicted: np.ndarray, classes: np.ndarray, resamples: int, seed: int
) -> dict:
    """95% percentile-bootstrap intervals of accuracy and macro-F1 over the test rows (macro-F1
    over the model's classes, as `compute_metrics` computes it)."""
    index = {label: i for i, label in enumerate(classes)}
    other = len(classes)  # a test label the model does not know counts for no class
    truth = np.array([index.get(label, other) for label in actual])
    guess = np.array([index.get(label, other) for label in predicted])
    buckets = other + 1
    rng = np.random.default_rng(seed)
    accuracy, macro_f1 = [], []
    for start in range(0, resamples, 100):  # 100 resamples at a time bound the memory
        rows = rng.integers(0, len(truth), size=(min(100, resamples - start), len(truth)))
        t, g = truth[rows], guess[rows]
        accuracy.append((t == g).mean(axis=1))
        offset = np.arange(len(rows))[:, None] * buckets
        hits = _per_row_counts(np.where(t == g, offset + t, offset + other), len(rows), buckets)
        total = _per_row_counts(offset + t, len(rows), buckets) + _per_row_counts(
            offset + g, len(rows), buckets
        )
        f1 = np.divide(2 * hits, total, out=np.zeros(hits.shape), where=total > 0)
        macro_f1.append(f1.mean(axis=1))
    return _rounded(
        {
            name: dict(zip(("low", "high"), np.percentile(values, [2.5, 97.5]), strict=True))
            for name, values in (
                ("accuracy", np.concatenate(accuracy)),
                ("macro_f1", np.concatenate(macro_f1)),
            )
        }
    )


def _per_row_counts(codes: np.ndarray, rows: int, buckets: int) -> np.ndarray:
    """Counts of each class per resample; the last bucket (no class) dropped."""
    found = np.bincount(codes.ravel(), minlength=rows * buckets)
    return found.reshape(rows, buckets)[:, :-1]


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
