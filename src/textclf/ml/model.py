"""The classification pipeline, built from the `train` section of params.yaml.

Every knob of the chosen scikit-learn vectoriser and classifier can be set in params.yaml; a key the
estimator does not have is an error that names it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from textclf.core.errors import ParamsError
from textclf.core.params import NormalizeOptions, PrepareParams, TrainParams
from textclf.ml.nb_weighting import NBWeightedClassifier
from textclf.ml.text import as_texts, normalize
from textclf.ml.vectorize import FastCountVectorizer, FastTfidfVectorizer
from textclf.ml.word_vectors import NgramsAndWordVectors, WordVectors, learn_word_vectors

# count and tfidf are scikit-learn's own, with word n-grams counted in Rust (ml/vectorize.py):
# the same features, 4x faster.
VECTORIZERS: dict[str, type[BaseEstimator]] = {
    "tfidf": FastTfidfVectorizer,
    "count": FastCountVectorizer,
    "hashing": HashingVectorizer,
}
CLASSIFIERS: dict[str, type[BaseEstimator]] = {
    "logreg": LogisticRegression,
    "sgd": SGDClassifier,
    "linear_svc": LinearSVC,
    "complement_nb": ComplementNB,
    "multinomial_nb": MultinomialNB,
}
NAIVE_BAYES = ("complement_nb", "multinomial_nb")
# Every model's steps, by these names: monitoring, calibration and old pickles rely on them.
PIPELINE_STEPS = ("normalize", "vectorize", "classify")
SEEDED = ("random_state",)
# scikit-learn's InvalidParameterError: "The 'C' parameter of LogisticRegression must be ..."
_REJECTED = re.compile(r"The '(\w+)' parameter")


class TextNormalizer(TransformerMixin, BaseEstimator):
    """First step of every model pipeline: raw text in, normalised text out."""

    def __init__(self, options: NormalizeOptions) -> None:
        self.options = options

    def fit(self, X: Iterable[str], y: object = None) -> TextNormalizer:
        return self

    def transform(self, X: Iterable[str]) -> list[str]:
        return [normalize(text, self.options) for text in as_texts(X)]


def forget_object_ids(pipeline: Pipeline) -> Pipeline:
    """Drop what a fitted pipeline remembers of memory addresses, so that the same data and
    params pickle to the same bytes (and DVC sees the same model). scikit-learn's vectorisers
    keep `id(stop_words)` only to skip a re-check of the stop words; they redo it if it is gone."""
    for part in [pipeline, *pipeline.get_params(deep=True).values()]:
        if hasattr(part, "_stop_words_id"):
            del part._stop_words_id
    return pipeline


def calibrate(pipeline: Pipeline, texts: list[str], labels: Any, method: str) -> Pipeline:
    """The fitted pipeline with its classifier's probabilities recalibrated on held-out texts
    (the classifier itself is frozen, not refitted)."""
    from sklearn.frozen import FrozenEstimator

    features = pipeline[:-1].transform(texts)
    every_row = np.arange(len(texts))
    # One "fold" that fits on nothing (the classifier is frozen) and calibrates on every row.
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(pipeline[-1]), method=method, cv=[(every_row, every_row)]
    )
    calibrated.fit(features, labels)
    return Pipeline([*pipeline.steps[:-1], ("classify", calibrated)])


def with_calibration_of(calibrated: Pipeline, refitted: Pipeline) -> Pipeline:
    """`refitted` (the same pipeline fitted again, on more rows) under the probability
    calibration that `calibrate` fitted for `calibrated`'s classifier."""
    import copy

    from sklearn.frozen import FrozenEstimator

    old, new = calibrated[-1], refitted[-1]
    if list(old.classes_) != list(new.classes_):
        raise ValueError(f"classes differ: {list(old.classes_)} vs {list(new.classes_)}")
    frozen = FrozenEstimator(new)
    calibrator = copy.copy(old)
    calibrator.estimator = frozen
    calibrator.calibrated_classifiers_ = []
    for fitted in old.calibrated_classifiers_:
        fitted = copy.copy(fitted)
        fitted.estimator = frozen
        calibrator.calibrated_classifiers_.append(fitted)
    return Pipeline([*refitted.steps[:-1], ("classify", calibrator)])


def build_pipeline(
    train: TrainParams, prepare: PrepareParams, word_vectors: WordVectors | None = None
) -> Pipeline:
    """The model `train` describes. `word_vectors` (learned beforehand, when
    `train.word_vectors` is set) are appended to the n-gram features."""
    vectorizer = vectorizer_of(train)
    if (train.word_vectors is None) != (word_vectors is None):
        raise ValueError("pass word vectors exactly when train.word_vectors is set")
    if word_vectors is not None:
        vectorizer = NgramsAndWordVectors(vectorizer, word_vectors, train.word_vectors.scale)
    classifier = _estimator("train.classifier", CLASSIFIERS, train.classifier, train.seed)
    if not hasattr(classifier, "predict_proba"):
        if train.nb_weighting and train.nb_interpolation is not None:
            raise ParamsError(
                "train.nb_interpolation",
                f"nb_interpolation needs a classifier with probabilities and weights; "
                f"{train.classifier['kind']} has no predict_proba",
                "set train.nb_interpolation: null, or use classifier kind logreg",
            )
        # e.g. LinearSVC or a hinge-loss SGD: log-loss, ROC and calibration need probabilities.
        classifier = CalibratedClassifierCV(classifier, cv=3)
    if train.nb_interpolation is not None and not train.nb_weighting:
        raise ParamsError(
            "train.nb_interpolation",
            "nb_interpolation is part of the NB weighting (NBSVM) and nb_weighting is off",
            "set train.nb_weighting: true, or train.nb_interpolation: null",
        )
    if train.nb_weighting:
        if train.classifier["kind"] in NAIVE_BAYES:
            raise ParamsError(
                "train.nb_weighting",
                f"nb_weighting cannot feed {train.classifier['kind']}: weighted features can be "
                "negative and naive Bayes already weighs features by class",
                "set train.nb_weighting: false, or choose a linear classifier",
            )
        if isinstance(vectorizer, HashingVectorizer) and vectorizer.alternate_sign:
            raise ParamsError(
                "train.vectorizer.alternate_sign",
                "nb_weighting needs non-negative features; the hashing vectorizer alternates signs",
                "set train.vectorizer.alternate_sign: false",
            )
        classifier = NBWeightedClassifier(
            classifier,
            alpha=train.nb_alpha,
            interpolation=train.nb_interpolation,
            unweighted_columns=word_vectors.dims if word_vectors is not None else 0,
        )
    parts = (TextNormalizer(prepare.normalize), vectorizer, classifier)
    return Pipeline(list(zip(PIPELINE_STEPS, parts, strict=True)))


def check_train_params(train: TrainParams, prepare: PrepareParams) -> None:
    """Raise the ParamsError that `build_pipeline` would, before any data is read or any word
    vector learned."""
    build_pipeline(dataclasses.replace(train, word_vectors=None), prepare)
    vectorizer_of(train)


def word_vectors_for(train: TrainParams, texts: Iterable[str]) -> WordVectors | None:
    """The word vectors `train.word_vectors` asks for, learned from `texts` (normalised, with
    or without labels: labels are not used); None when it is off."""
    options = train.word_vectors
    if options is None:
        return None
    tokens = vectorizer_of(train)
    return learn_word_vectors(
        texts,
        tokens.token_pattern,
        tokens.lowercase,
        options.words,
        options.window,
        options.dims,
        train.seed,
    )


def vectorizer_of(train: TrainParams) -> BaseEstimator:
    """The (unfitted) n-gram vectoriser `train.vectorizer` describes."""
    vectorizer = _estimator("train.vectorizer", VECTORIZERS, train.vectorizer, train.seed)
    if train.word_vectors is not None and not (
        hasattr(vectorizer, "vocabulary") and vectorizer.analyzer == "word"
    ):
        raise ParamsError(
            "train.word_vectors",
            "word vectors are summed over a text's word columns; this vectoriser "
            f"({train.vectorizer['kind']}, analyzer {vectorizer.analyzer!r}) has none",
            "use vectorizer kind tfidf or count with analyzer word, or set "
            "train.word_vectors: null",
        )
    return vectorizer


def _estimator(
    section: str, registry: dict[str, type[BaseEstimator]], config: dict[str, Any], seed: int
) -> BaseEstimator:
    options = dict(config)
    kind = options.pop("kind", None)
    if kind not in registry:
        raise ParamsError(
            f"{section}.kind",
            f"{section}.kind is {kind!r}",
            f"set it to one of {', '.join(registry)}",
        )
    cls = registry[kind]
    accepted = cls().get_params()
    for key, value in options.items():
        if key not in accepted:
            raise ParamsError(
                f"{section}.{key}",
                f"{cls.__name__} has no parameter '{key}'",
                f"remove {section}.{key} or use one of: {', '.join(sorted(accepted))}",
            )
        if isinstance(value, list) and isinstance(accepted[key], tuple):
            options[key] = tuple(value)  # YAML has no tuples; ngram_range and friends want them
    if any(name in accepted for name in SEEDED):
        options.setdefault("random_state", seed)
    estimator = cls(**options)
    _check_values(estimator, section)
    return estimator


def _check_values(estimator: BaseEstimator, section: str) -> None:
    """Ask scikit-learn whether the estimator's values are valid, without fitting it: the same
    check its `fit` makes (and a vectoriser's n-gram range, which `fit` checks separately)."""
    from sklearn.utils._param_validation import InvalidParameterError

    try:
        estimator._validate_params()
        if hasattr(estimator, "_validate_ngram_range"):
            estimator._validate_ngram_range()
    except InvalidParameterError as error:
        key = _REJECTED.search(str(error))
        field = f"{section}.{key[1]}" if key else section
        raise ParamsError(field, str(error), f"set {field} to a value it allows") from None
    except ValueError as error:  # the n-gram range: (min, max) with min <= max
        raise ParamsError(
            f"{section}.ngram_range", str(error), f"set {section}.ngram_range to [min, max]"
        ) from None
