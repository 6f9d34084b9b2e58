"""The classification pipeline, built from the `train` section of params.yaml.

Every knob of the chosen scikit-learn vectoriser and classifier can be set in params.yaml; a key the
estimator does not have is an error that names it.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from textclf.errors import DataError
from textclf.nb import NBWeightedClassifier
from textclf.params import PrepareParams, TrainParams
from textclf.text import TextNormalizer

VECTORIZERS: dict[str, type[BaseEstimator]] = {
    "tfidf": TfidfVectorizer,
    "count": CountVectorizer,
    "hashing": HashingVectorizer,
}
CLASSIFIERS: dict[str, type[BaseEstimator]] = {
    "logreg": LogisticRegression,
    "sgd": SGDClassifier,
    "linear_svc": LinearSVC,
    "complement_nb": ComplementNB,
    "multinomial_nb": MultinomialNB,
}
SEEDED = ("random_state",)


def build_pipeline(train: TrainParams, prepare: PrepareParams) -> Pipeline:
    vectorizer = _estimator("train.vectorizer", VECTORIZERS, train.vectorizer, train.seed)
    classifier = _estimator("train.classifier", CLASSIFIERS, train.classifier, train.seed)
    if train.classifier["kind"] == "linear_svc":
        # LinearSVC has no probabilities; log-loss, ROC and calibration need them.
        classifier = CalibratedClassifierCV(classifier, cv=3)
    if train.nb_weighting:
        classifier = NBWeightedClassifier(classifier, alpha=train.nb_alpha)
    normalizer = TextNormalizer(
        strip_html=prepare.strip_html,
        replace_urls=prepare.replace_urls,
        replace_mentions=prepare.replace_mentions,
        lowercase=prepare.lowercase,
    )
    return Pipeline(
        [("normalize", normalizer), ("vectorize", vectorizer), ("classify", classifier)]
    )


def _estimator(
    section: str, registry: dict[str, type[BaseEstimator]], config: dict[str, Any], seed: int
) -> BaseEstimator:
    options = dict(config)
    kind = options.pop("kind", None)
    if kind not in registry:
        raise DataError(
            "params.yaml",
            f"{section}.kind is {kind!r}",
            f"set it to one of {', '.join(registry)}",
            field=f"{section}.kind",
        )
    cls = registry[kind]
    accepted = cls().get_params()
    for key, value in options.items():
        if key not in accepted:
            raise DataError(
                "params.yaml",
                f"{cls.__name__} has no parameter '{key}'",
                f"remove {section}.{key} or use one of: {', '.join(sorted(accepted))}",
                field=f"{section}.{key}",
            )
        if isinstance(value, list):  # YAML has no tuples; ngram_range and friends want them
            options[key] = tuple(value)
    if any(name in accepted for name in SEEDED):
        options.setdefault("random_state", seed)
    return cls(**options)
