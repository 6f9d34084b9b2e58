"""The promotion rule's comparison (ml/comparison.py) under no real difference and under a real
one. A champion and a challenger of the same recipe, each trained on its own resample of the
same training rows, are draws from one distribution: neither is better. Over 40 such pairs, at
`confidence` 0.95, the rule may promote at most 5% of the challengers (2.5% with its two-sided
test). The margin rule it replaced ("at least +0.002") promoted 14 of the 40. A model that
is truly better is promoted."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from textclf.ml.comparison import compare_paired
from textclf.ml.scoring import score_texts

CONFIDENCE = 0.95
CHALLENGERS = 40
RNG = np.random.default_rng(7)
SIGNAL = [f"good{i}" for i in range(30)], [f"bad{i}" for i in range(30)]
NOISE = [f"word{i}" for i in range(300)]


def texts(rows: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Texts of 12 words, each a class word with probability 0.12 (weak evidence: accuracy
    near 80%, so models trained on different rows disagree on many test rows)."""
    labels = rng.choice(["neg", "pos"], size=rows)
    out = []
    for label in labels:
        own = SIGNAL[0] if label == "pos" else SIGNAL[1]
        words = [rng.choice(own) if rng.random() < 0.12 else rng.choice(NOISE) for _ in range(12)]
        out.append(" ".join(words))
    return out, labels


TRAIN_TEXTS, TRAIN_LABELS = texts(1500, RNG)
TEST_TEXTS, TEST_LABELS = texts(1000, RNG)


def fitted(rows: np.ndarray, texts_: list[str], labels: np.ndarray):  # type: ignore[no-untyped-def]
    model = make_pipeline(CountVectorizer(), LogisticRegression(C=0.5, max_iter=1000))
    return model.fit([texts_[i] for i in rows], labels[rows])


def resample(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, len(TRAIN_TEXTS), len(TRAIN_TEXTS))


def scored(seed: int):  # type: ignore[no-untyped-def]
    return score_texts(fitted(resample(seed), TRAIN_TEXTS, TRAIN_LABELS), TEST_TEXTS)


@pytest.fixture(scope="module")
def pairs():  # type: ignore[no-untyped-def]
    """(champion, challenger) pairs, every model trained on a resample of its own."""
    return [(scored(2 * pair), scored(2 * pair + 1)) for pair in range(CHALLENGERS)]


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1", "log_loss"])
def test_no_better_challengers_are_promoted_at_most_one_time_in_twenty(pairs, metric: str) -> None:
    comparisons = [
        compare_paired(TEST_LABELS, champion, challenger, metric, CONFIDENCE, resamples=1000)
        for champion, challenger in pairs
    ]
    promoted = sum(c.wins(0.0) for c in comparisons)
    assert promoted / CHALLENGERS <= 1 - CONFIDENCE, [c.summary() for c in comparisons if c.wins(0)]
    if metric == "accuracy":
        # the test can tell: the margin rule it replaced promoted many of the same challengers
        by_margin = sum(c.improvement >= 0.002 for c in comparisons)
        assert by_margin / CHALLENGERS >= 0.25
        assert all(c.test == "exact McNemar test" and c.rows == 1000 for c in comparisons)


def test_a_truly_better_model_is_promoted(pairs) -> None:
    champion, _ = pairs[0]
    more_texts, more_labels = texts(15000, np.random.default_rng(11))  # ten times the data
    better = score_texts(fitted(np.arange(15000), more_texts, more_labels), TEST_TEXTS)
    for metric in ("accuracy", "macro_f1", "log_loss"):
        comparison = compare_paired(TEST_LABELS, champion, better, metric, CONFIDENCE)
        assert comparison.wins(0.0), comparison.summary()
        assert comparison.low > 0 and comparison.p_value < 0.05
    # and the worse one is not: the same comparison the other way round
    assert not compare_paired(TEST_LABELS, better, champion, "accuracy", CONFIDENCE).wins(0.0)


def test_the_decision_names_its_test_rows_interval_and_p(pairs) -> None:
    champion, challenger = pairs[0]
    summary = compare_paired(TEST_LABELS, champion, challenger, "accuracy").summary()
    assert "on 1,000 paired rows" in summary
    assert "exact McNemar test p = " in summary
    assert "95% interval" in summary
