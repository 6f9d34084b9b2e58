"""Train: fit the params-defined pipeline on the training split, and calibrate its
probabilities on the validation split when `train.calibration` asks for it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sklearn.metrics as skm
from sklearn.pipeline import Pipeline

from textclf.core.errors import DataError
from textclf.core.files import write_json
from textclf.core.layout import Layout
from textclf.core.params import Params
from textclf.core.progress import Progress
from textclf.core.tables import read_stage_output
from textclf.ml.model import (
    PIPELINE_STEPS,
    build_pipeline,
    calibrate,
    with_calibration_of,
    word_vectors_for,
)
from textclf.ml.persist import save_model
from textclf.ml.scoring import score_texts
from textclf.ml.text import as_texts, normalize
from textclf.ml.word_vectors import WordVectors
from textclf.registry.tracking import connect

log = logging.getLogger(__name__)


@dataclass
class Trained:
    model: Pipeline
    stats: dict  # what the model is, never how long it took: this file is tracked in git


def train(
    train_split: pd.DataFrame,
    validation: pd.DataFrame,
    params: Params,
    unlabelled: Sequence[str] = (),
) -> Trained:
    """Fit on the train split; score the validation split (the metric sweeps choose by);
    calibrate on it; with `train.refit_on_all`, fit again on both splits under that
    calibration. With `train.word_vectors`, word vectors are learned first from the texts of
    both splits and the `unlabelled` ones (raw: normalised here), never from their labels."""
    method = params.train.calibration
    refit = params.train.refit_on_all and not validation.empty
    learn = params.train.word_vectors is not None
    steps = len(PIPELINE_STEPS) * (1 + refit) + (method != "none") + learn
    with Progress("train", total=steps, unit="steps") as progress:
        word_vectors = None
        if learn:
            word_vectors = _learn_word_vectors(train_split, validation, unlabelled, params)
            progress.update(1)
        model = build_pipeline(params.train, params.prepare, word_vectors)
        fit_steps(model, train_split["text"].tolist(), train_split["label"].to_numpy(), progress)
        validation_metrics = score_validation(model, validation)
        if method != "none":
            _check_enough_to_calibrate(validation, model.classes_)
            model = calibrate(
                model, validation["text"].tolist(), validation["label"].to_numpy(), method
            )
            log.info("calibrated (%s) on %d rows", method, len(validation))
            progress.update(1)
        if refit:
            everything = pd.concat([train_split, validation], ignore_index=True)
            refitted = build_pipeline(params.train, params.prepare, word_vectors)
            fit_steps(
                refitted, everything["text"].tolist(), everything["label"].to_numpy(), progress
            )
            model = with_calibration_of(model, refitted) if method != "none" else refitted
    vectorizer = model.named_steps["vectorize"]
    n_features = (
        len(vectorizer.vocabulary_) + getattr(vectorizer, "n_appended", 0)
        if hasattr(vectorizer, "vocabulary_")
        else vectorizer.get_params().get("n_features")
    )
    stats = {
        "train_rows": len(train_split) + len(validation) * refit,
        "refit_on_validation_rows": len(validation) * refit,
        "calibrated_on_rows": len(validation) if method != "none" else 0,
        "classes": [str(label) for label in model.classes_],
        "n_features": n_features,
        "word_vectors": (
            {"words": len(word_vectors.words), "dims": word_vectors.dims}
            if word_vectors is not None
            else None
        ),
        "validation": validation_metrics,
    }
    return Trained(model, stats)


def _learn_word_vectors(
    train_split: pd.DataFrame, validation: pd.DataFrame, unlabelled: Sequence[str], params: Params
) -> WordVectors:
    texts = [
        *train_split["text"].tolist(),
        *validation["text"].tolist(),
        *(normalize(text, params.prepare.normalize) for text in as_texts(unlabelled)),
    ]
    started = time.perf_counter()
    vectors = word_vectors_for(params.train, texts)
    assert vectors is not None
    log.info(
        "learned %d-dimensional vectors of %d words from %d texts (%d without labels) in %.1f s",
        vectors.dims,
        len(vectors.words),
        len(texts),
        len(unlabelled),
        time.perf_counter() - started,
    )
    return vectors


def score_validation(model: Pipeline, validation: pd.DataFrame) -> dict | None:
    """Accuracy and macro-F1 on the validation split, before calibration (which is fitted on
    it): the metric sweeps choose hyperparameters by, so that the test split chooses nothing.
    None without a validation split."""
    if validation.empty:
        return None
    actual = validation["label"].astype(str).to_numpy()
    predicted = score_texts(model, validation["text"].tolist()).labels
    return {
        "accuracy": round(float(skm.accuracy_score(actual, predicted)), 6),
        "macro_f1": round(float(skm.f1_score(actual, predicted, average="macro")), 6),
        "rows": len(actual),
    }


def fit_steps(model: Pipeline, texts: list[str], labels: Any, progress: Progress) -> None:
    """What `Pipeline.fit` does (each transformer's fit_transform feeds the next, the last
    step fits), one step at a time, so that a long fit shows where it is."""
    features: Any = texts
    for name, step in model.steps:
        started = time.perf_counter()
        try:
            if step is model.steps[-1][1]:
                step.fit(features, labels)
            else:
                features = step.fit_transform(features, labels)
        except ValueError as error:
            if "empty vocabulary" not in str(error):
                raise
            # scikit-learn's words; every text was empty, stop words or unmatched by the pattern
            raise DataError(
                Layout().train_split,
                "no training text gives a single n-gram (empty vocabulary)",
                "check that the text column holds the texts (dataset.text_column), or loosen "
                "train.vectorizer (token_pattern, min_df, stop_words)",
                field="text",
            ) from error
        log.info("fitted %s in %.1f s", name, time.perf_counter() - started)
        progress.update(1)


# Fewer rows of a class than this make a calibration map that only memorises them.
MIN_CALIBRATION_ROWS = 10


def _check_enough_to_calibrate(validation: pd.DataFrame, classes: Any) -> None:
    counts = validation["label"].astype(str).value_counts()
    short = {str(c): int(counts.get(str(c), 0)) for c in classes}
    short = {label: rows for label, rows in short.items() if rows < MIN_CALIBRATION_ROWS}
    if short:
        raise DataError(
            Layout().validation_split,
            f"too few rows to calibrate on: {short} (at least {MIN_CALIBRATION_ROWS} per class)",
            "raise prepare.validation_size, add data, or set train.calibration: none",
            field="label",
        )


def run(params: Params, layout: Layout) -> dict:
    """The train stage: models/model.skops and reports/train.json."""
    if params.mlflow.enabled:  # fail now, not after the fit, if the run cannot be tracked
        connect(layout.root, fallback_to_local=params.mlflow.fallback_to_local)
    train_split = read_stage_output(layout.train_split, "prepare")
    validation = read_stage_output(layout.validation_split, "prepare")
    unlabelled = (
        read_stage_output(layout.unlabelled, "ingest")["text"].tolist()
        if params.train.word_vectors is not None
        else []
    )
    trained = train(train_split, validation, params, unlabelled)
    save_model(trained.model, layout.model)
    write_json(trained.stats, layout.train_stats)
    return trained.stats
