"""Train: fit the params-defined pipeline on the training split."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.pipeline import Pipeline

from textclf.core.params import Params
from textclf.ml.model import build_pipeline


@dataclass
class Trained:
    model: Pipeline
    stats: dict  # what the model is, never how long it took: this file is tracked in git


def train(train_split: pd.DataFrame, params: Params) -> Trained:
    model = build_pipeline(params.train, params.prepare)
    model.fit(train_split["text"].tolist(), train_split["label"].to_numpy())
    vectorizer = model.named_steps["vectorize"]
    n_features = (
        len(vectorizer.vocabulary_)
        if hasattr(vectorizer, "vocabulary_")
        else vectorizer.get_params().get("n_features")
    )
    stats = {
        "train_rows": len(train_split),
        "classes": [str(label) for label in model.classes_],
        "n_features": n_features,
    }
    return Trained(model, stats)
