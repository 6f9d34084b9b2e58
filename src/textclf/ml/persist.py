"""A fitted model on disk: how the pipeline saves it and how every route loads it back.

`LoadedModel` is a fitted pipeline with where it came from (written into every scored row); the
registry (textclf.registry.models) wraps registered versions in the same type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from textclf.core.errors import DataError
from textclf.core.files import atomic_path
from textclf.ml.model import forget_object_ids
from textclf.ml.scoring import Scores
from textclf.ml.text import as_texts
from textclf.ml.workers import score_all

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A fitted pipeline and where it came from (written into every scored row)."""

    pipeline: Any
    name: str
    version: str
    uri: str

    @property
    def classes(self) -> list[str]:
        return [str(label) for label in self.pipeline.classes_]

    def score(
        self,
        texts: Any,
        min_confidence: float = 0.0,
        workers: int | None = 1,
        chunk_rows: int = 5000,
    ) -> Scores:
        """Scores of `texts`; answers under `min_confidence` are `uncertain`. More than one
        chunk of texts is scored on `workers` processes (None: every core)."""
        return score_all(self.pipeline, as_texts(texts), min_confidence, workers, chunk_rows)


def save_model(pipeline: Any, target: Path) -> None:
    """Write a fitted pipeline atomically; the same data and params give the same bytes."""
    with atomic_path(target) as tmp:
        joblib.dump(forget_object_ids(pipeline), tmp)


def load_model_file(path: Path) -> LoadedModel:
    """A model.joblib that the train stage wrote."""
    if not path.is_file():
        raise DataError(path, "no trained model", "run `dvc repro train`, or name a model.joblib")
    return LoadedModel(joblib.load(path), path.stem, "local", str(path))
