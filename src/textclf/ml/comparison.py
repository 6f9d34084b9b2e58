"""Is one model better than another, or is the difference noise? The one paired comparison that
the promotion rule (registry/promotion.py) and the pull-request report (review/report.py) share.

Both models are scored on the same rows. For accuracy, the test is McNemar's exact test on the
rows where exactly one model is right (two-sided), and the interval is a paired bootstrap
interval of the accuracy difference. For the other metrics, a paired bootstrap gives both: the
same resampled rows for both models, the metric's difference on each resample. The new model
*wins* when the difference is significant at `confidence`, in its favour, and the interval's
lower end is at least `min_improvement`. With two-sided tests, a challenger no better than the
champion wins at most (1 - confidence) / 2 of the time
(tests/model/test_promotion_statistics.py measures that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest
from sklearn import metrics as skm

from textclf.ml.metrics import HIGHER_IS_BETTER, expected_calibration_error
from textclf.ml.scoring import Scores

RESAMPLES = 2000
_CHUNK = 100  # resamples at a time: 100 x the rows' indices stays small on 25,000 rows
_EPSILON = 1e-15  # log-loss clips probabilities as scikit-learn does


@dataclass(frozen=True)
class PairedComparison:
    """`improvement` is new - base, signed so that positive is better (log-loss: base - new)."""

    metric: str
    test: str
    rows: int
    confidence: float
    base_score: float
    new_score: float
    improvement: float
    low: float
    high: float
    p_value: float
    base_only_correct: int
    new_only_correct: int

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - self.confidence

    def wins(self, min_improvement: float) -> bool:
        return self.significant and self.improvement > 0 and self.low >= min_improvement

    def summary(self) -> str:
        """One sentence for a decision record or a report: the test, rows, interval and p."""
        return (
            f"{self.metric} {self.base_score:.4f} -> {self.new_score:.4f}, improvement "
            f"{self.improvement:+.4f} ({self.confidence:.0%} interval {self.low:+.4f} to "
            f"{self.high:+.4f}) on {self.rows:,} paired rows; {self.test} p = {self.p_value:.4g}"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def compare_paired(
    actual: np.ndarray,
    base: Scores,
    new: Scores,
    metric: str,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedComparison:
    """Compare two models' scores of the same rows (`actual` their true labels)."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}")
    actual = np.asarray(actual).astype(str)
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    base_correct, new_correct = base.labels == actual, new.labels == actual
    if metric == "accuracy":
        return compare_correct(base_correct, new_correct, confidence, resamples, seed)
    measure = _measure(metric, actual, base, new)
    rng = np.random.default_rng(seed)
    differences = np.concatenate(
        [
            sign * (measure(rows, "new") - measure(rows, "base"))
            for rows in _resampled_rows(len(actual), resamples, rng)
        ]
    )
    everything = np.arange(len(actual))[None, :]
    base_score = float(measure(everything, "base")[0])
    new_score = float(measure(everything, "new")[0])
    low, high = _interval(differences, confidence)
    # two-sided bootstrap p: how often the resampled difference falls on the other side of 0
    tail = min((differences <= 0).sum(), (differences >= 0).sum())
    return PairedComparison(
        metric,
        "paired bootstrap",
        len(actual),
        confidence,
        base_score,
        new_score,
        sign * (new_score - base_score),
        low,
        high,
        float(min(1.0, 2 * (tail + 1) / (resamples + 1))),
        int((base_correct & ~new_correct).sum()),
        int((new_correct & ~base_correct).sum()),
    )


def compare_correct(
    base_correct: np.ndarray,
    new_correct: np.ndarray,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedComparison:
    """Accuracy from each row's right-or-wrong: McNemar's exact test and a paired bootstrap
    interval (what the pull-request report has of two revisions: their predictions files)."""
    base_correct = np.asarray(base_correct, dtype=bool)
    new_correct = np.asarray(new_correct, dtype=bool)
    base_only = int((base_correct & ~new_correct).sum())
    new_only = int((new_correct & ~base_correct).sum())
    discordant = base_only + new_only
    p_value = binomtest(new_only, discordant, 0.5).pvalue if discordant else 1.0
    difference = new_correct.astype(float) - base_correct.astype(float)
    rng = np.random.default_rng(seed)
    deltas = np.concatenate(
        [difference[rows].mean(axis=1) for rows in _resampled_rows(len(difference), resamples, rng)]
    )
    low, high = _interval(deltas, confidence)
    return PairedComparison(
        "accuracy",
        "exact McNemar test",
        len(difference),
        confidence,
        float(base_correct.mean()),
        float(new_correct.mean()),
        float(difference.mean()),
        low,
        high,
        float(p_value),
        base_only,
        new_only,
    )


def _resampled_rows(rows: int, resamples: int, rng: np.random.Generator):
    for start in range(0, resamples, _CHUNK):
        yield rng.integers(0, rows, size=(min(_CHUNK, resamples - start), rows))


def _interval(differences: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return float(low), float(high)


def _measure(
    metric: str, actual: np.ndarray, base: Scores, new: Scores
) -> Callable[[np.ndarray, str], np.ndarray]:
    """`measure(rows, which)`: the metric of model `which` on each resample (a row of `rows`)."""
    scores = {"base": base, "new": new}
    if metric == "log_loss":
        losses = {
            which: -np.log(np.clip(_true_class_proba(actual, s), _EPSILON, 1.0))
            for which, s in scores.items()
        }
        return lambda rows, which: losses[which][rows].mean(axis=1)
    if metric == "macro_f1":
        classes = base.classes
        return lambda rows, which: _macro_f1(actual, scores[which].labels, classes, rows)

    def per_resample(rows: np.ndarray, which: str) -> np.ndarray:
        model = scores[which]
        return np.array([_single(metric, actual[r], model, r) for r in rows])

    return per_resample


def _true_class_proba(actual: np.ndarray, scores: Scores) -> np.ndarray:
    column = {str(label): i for i, label in enumerate(scores.classes)}
    index = np.array([column.get(label, -1) for label in actual])
    proba = np.where(index >= 0, scores.proba[np.arange(len(actual)), index.clip(0)], 0.0)
    return proba


def _macro_f1(
    actual: np.ndarray, predicted: np.ndarray, classes: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Macro-F1 of every resample at once, from per-row true/false positive indicators."""
    total = np.zeros(len(rows))
    for label in classes:
        is_true, is_predicted = actual == label, predicted == label
        tp = (is_true & is_predicted)[rows].sum(axis=1)
        fp = (~is_true & is_predicted)[rows].sum(axis=1)
        fn = (is_true & ~is_predicted)[rows].sum(axis=1)
        denominator = 2 * tp + fp + fn
        total += np.divide(2 * tp, denominator, out=np.zeros(len(rows)), where=denominator > 0)
    return total / len(classes)


def _single(metric: str, actual: np.ndarray, scores: Scores, rows: np.ndarray) -> float:
    proba = scores.proba[rows]
    classes = scores.classes
    if metric == "roc_auc":
        if len(classes) == 2:
            return float(skm.roc_auc_score(actual == classes[1], proba[:, 1]))
        return float(
            skm.roc_auc_score(actual, proba, multi_class="ovr", average="macro", labels=classes)
        )
    if metric == "ece":
        labels = classes[proba.argmax(axis=1)]
        return expected_calibration_error(labels == actual, proba.max(axis=1))
    raise ValueError(f"unknown metric {metric!r}")
