"""Model behaviour: the pipeline learns, is reproducible, and is configured from params alone."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from tests.conftest import NEGATIVE, POSITIVE, REPO_ROOT, make
from textclf.core.errors import DataError
from textclf.core.params import PrepareParams, TrainParams
from textclf.core.progress import Progress
from textclf.ml.model import (
    CLASSIFIERS,
    NAIVE_BAYES,
    VECTORIZERS,
    build_pipeline,
    calibrate,
    forget_object_ids,
    with_calibration_of,
)
from textclf.ml.nb_weighting import NBWeightedClassifier, log_count_ratio
from textclf.ml.word_vectors import learn_word_vectors
from textclf.pipeline.train import fit_steps

TEXTS = POSITIVE * 3 + NEGATIVE * 3
LABELS = np.array(["pos"] * 12 + ["neg"] * 12)


def small(**overrides) -> TrainParams:
    options = {
        "vectorizer": {"kind": "tfidf", "ngram_range": [1, 2]},
        "classifier": {"kind": "logreg", "C": 10.0},
        **overrides,
    }
    return make(TrainParams, **{"word_vectors": None, **options})


def test_log_count_ratio_signs() -> None:
    X = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]]))
    ratio = log_count_ratio(X, np.array([True, True, False, False]), alpha=1.0)
    assert ratio[0] > 0 > ratio[1]
    assert ratio[2] == pytest.approx(0.0)


def test_nb_classifier_binary_and_multiclass() -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.3, size=(90, 12))
    y = np.repeat(np.array(["a", "b", "c"]), 30)
    for k, label in enumerate(("a", "b", "c")):  # each class owns four features
        counts[np.flatnonzero(y == label), 4 * k : 4 * k + 4] += 2
    X = sp.csr_matrix(counts)
    for labels in (y[:60], y):
        rows = len(labels)
        model = NBWeightedClassifier(LogisticRegression()).fit(X[:rows], labels)
        proba = model.predict_proba(X[:rows])
        assert proba.shape == (rows, len(set(labels)))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert (model.predict(X[:rows]) == labels).mean() > 0.95


def test_nb_interpolation_pulls_weights_towards_their_mean_size() -> None:
    X = sp.csr_matrix(np.random.default_rng(0).integers(0, 2, size=(40, 12)))
    y = np.array(["a", "b"] * 20)
    plain = NBWeightedClassifier(LogisticRegression(C=1.0)).fit(X, y).estimators_[0]
    pulled = NBWeightedClassifier(LogisticRegression(C=1.0), interpolation=0.25).fit(X, y)
    w = plain.coef_
    np.testing.assert_allclose(pulled.estimators_[0].coef_, 0.75 * np.abs(w).mean() + 0.25 * w)
    np.testing.assert_allclose(pulled.estimators_[0].intercept_, 0.25 * plain.intercept_)
    assert pulled.predict_proba(X).shape == (40, 2)


def test_nb_interpolation_needs_a_probabilistic_classifier() -> None:
    params = make(
        TrainParams, word_vectors=None, classifier={"kind": "linear_svc"}, nb_interpolation=0.5
    )
    with pytest.raises(DataError, match="has no predict_proba"):
        build_pipeline(params, make(PrepareParams))


def test_nb_interpolation_needs_nb_weighting() -> None:
    params = make(TrainParams, word_vectors=None, nb_weighting=False, nb_interpolation=0.5)
    with pytest.raises(DataError, match="nb_weighting is off"):
        build_pipeline(params, make(PrepareParams))


def test_refit_keeps_the_calibration_map() -> None:
    texts, labels = POSITIVE * 3 + NEGATIVE * 3, ["pos"] * 12 + ["neg"] * 12
    params, prepare = make(TrainParams, word_vectors=None), make(PrepareParams)
    first = build_pipeline(params, prepare).fit(
        texts[:8] + texts[12:20], labels[:8] + labels[12:20]
    )
    calibrated = calibrate(first, texts, labels, "sigmoid")
    refitted = build_pipeline(params, prepare).fit(texts, labels)
    model = with_calibration_of(calibrated, refitted)
    assert model.named_steps["vectorize"] is refitted.named_steps["vectorize"]
    map_ = calibrated[-1].calibrated_classifiers_[0].calibrators[0]
    assert model[-1].calibrated_classifiers_[0].calibrators[0] is map_
    # The map applied to the refitted classifier's scores, not to the first one's.
    scores = refitted[-1].predict_proba(refitted[:-1].transform(texts))[:, 1]
    expected = map_.predict(scores)
    np.testing.assert_allclose(model.predict_proba(texts)[:, 1], expected, rtol=1e-12)
    assert not np.allclose(model.predict_proba(texts), calibrated.predict_proba(texts))


def test_pipeline_learns_and_is_reproducible() -> None:
    first = build_pipeline(small(), make(PrepareParams)).fit(TEXTS, LABELS)
    second = build_pipeline(small(), make(PrepareParams)).fit(TEXTS, LABELS)
    unseen = ["a great, wonderful film", "boring and awful, a waste"]
    assert first.predict(unseen).tolist() == ["pos", "neg"]
    np.testing.assert_array_equal(first.predict_proba(unseen), second.predict_proba(unseen))


def fitted_model_digest() -> str:
    model = build_pipeline(small(), make(PrepareParams)).fit(TEXTS, LABELS)
    model.predict(TEXTS)  # predicting records the address again; saving must still drop it
    digest = hashlib.md5(pickle.dumps(forget_object_ids(model))).hexdigest()
    assert model.predict(["a great film"]).tolist() == ["pos"]  # still predicts after the drop
    return digest


def test_same_data_and_params_pickle_to_the_same_bytes_in_any_process() -> None:
    # Memory addresses differ between processes, not within one: fit in two of them.
    script = "from tests.model.test_model import fitted_model_digest as d; print(d())"
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    }
    assert len(digests) == 1, digests


def test_pipeline_takes_raw_text_and_dataframes() -> None:
    import pandas as pd

    model = build_pipeline(small(), make(PrepareParams)).fit(TEXTS, LABELS)
    raw = "Great!<br /><br />Wonderful &amp; moving http://imdb.com"
    frame = pd.DataFrame({"text": [raw]})
    assert model.predict(frame).tolist() == model.predict([raw]).tolist() == ["pos"]


@pytest.mark.parametrize("vectorizer", sorted(VECTORIZERS))
@pytest.mark.parametrize("classifier", sorted(CLASSIFIERS))
def test_every_configurable_kind_trains(vectorizer: str, classifier: str) -> None:
    vec = {"kind": vectorizer}
    if vectorizer == "hashing":  # naive Bayes and NB weighting need non-negative features
        vec.update(n_features=2**12, alternate_sign=False)
    for nb in (False, True) if classifier not in NAIVE_BAYES else (False,):
        params = small(
            vectorizer=vec,
            classifier={"kind": classifier},
            nb_weighting=nb,
            # interpolation belongs to the NB weighting, and needs a probabilistic linear model
            nb_interpolation=0.5 if nb and classifier == "logreg" else None,
        )
        model = build_pipeline(params, make(PrepareParams)).fit(TEXTS, LABELS)
        proba = model.predict_proba(TEXTS)
        assert proba.shape == (24, 2)
        assert (model.predict(TEXTS) == LABELS).mean() >= 0.9


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"classifier": {"kind": "complement_nb"}}, "train.nb_weighting"),
        ({"vectorizer": {"kind": "hashing"}}, "train.vectorizer.alternate_sign"),
    ],
)
def test_nb_weighting_refuses_negative_features(overrides: dict, field: str) -> None:
    with pytest.raises(DataError) as error:
        build_pipeline(small(nb_weighting=True, **overrides), make(PrepareParams))
    assert error.value.field == field


def test_unknown_estimator_parameter_is_named() -> None:
    with pytest.raises(DataError, match="LogisticRegression has no parameter 'alpha_'") as error:
        build_pipeline(small(classifier={"kind": "logreg", "alpha_": 1}), make(PrepareParams))
    assert error.value.field == "train.classifier.alpha_"


def test_unknown_kind_is_named() -> None:
    with pytest.raises(DataError, match=r"train\.vectorizer\.kind") as error:
        build_pipeline(small(vectorizer={"kind": "bert"}), make(PrepareParams))
    assert "tfidf" in error.value.fix


@pytest.mark.parametrize("method", ["temperature", "sigmoid", "isotonic"])
def test_calibration_refits_only_the_probabilities(method: str) -> None:
    model = build_pipeline(small(), make(PrepareParams)).fit(TEXTS, LABELS)
    held_out = ["a great film", "so boring", "loved the music", "awful plot"] * 3
    truth = np.array(["pos", "neg", "pos", "neg"] * 2 + ["pos", "neg", "neg", "pos"])  # noisy
    before = model.predict_proba(held_out)
    calibrated = calibrate(model, held_out, truth, method)
    after = calibrated.predict_proba(held_out)
    assert calibrated.named_steps["vectorize"] is model.named_steps["vectorize"]
    assert list(calibrated.classes_) == list(model.classes_)
    np.testing.assert_allclose(after.sum(axis=1), 1.0)
    assert not np.allclose(after, before)
    if method == "temperature":  # one scale factor: the ranking and the labels stay
        assert (after.argmax(axis=1) == before.argmax(axis=1)).all()
        assert (np.argsort(after[:4, 1]) == np.argsort(before[:4, 1])).all()
    reloaded = pickle.loads(pickle.dumps(calibrated))
    np.testing.assert_allclose(reloaded.predict_proba(held_out), after)


def test_texts_without_a_single_word_are_one_data_error() -> None:
    """Not scikit-learn's "empty vocabulary", nor word vectors' "lower dims below 1"."""
    texts, labels = ["...", "!!!", "--", ";;"] * 10, ["a", "b"] * 20
    model = build_pipeline(
        make(TrainParams, word_vectors=None, vectorizer={"kind": "tfidf"}), make(PrepareParams)
    )
    with pytest.raises(DataError, match="empty vocabulary") as error:
        fit_steps(model, texts, labels, Progress("fit", total=3))
    assert "dataset.text_column" in error.value.fix
    with pytest.raises(DataError, match="0 distinct word") as error:
        learn_word_vectors(texts, r"\w+", True, words=100, window=2, dims=8, seed=0)
    assert "dataset.text_column" in error.value.fix
