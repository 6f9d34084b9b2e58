"""Score texts with a fitted pipeline: one label, one confidence and one probability per class.

The one place that turns probabilities into answers: evaluation, batch scoring, `textclf
predict` and the promotion rule all call `score_texts`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Scores:
    classes: np.ndarray  # class names as strings, in the model's order
    proba: np.ndarray  # one row per text, one column per class

    @property
    def labels(self) -> np.ndarray:
        return self.classes[self.proba.argmax(axis=1)]

    @property
    def confidence(self) -> np.ndarray:
        return self.proba.max(axis=1)

    def __len__(self) -> int:
        return len(self.proba)

    def columns(self) -> dict[str, Any]:
        """The scored columns every output carries: label, confidence, `proba_<class>`."""
        columns: dict[str, Any] = {
            "predicted_label": self.labels,
            "confidence": self.confidence,
        }
        columns.update({f"proba_{label}": self.proba[:, i] for i, label in enumerate(self.classes)})
        return columns

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready answer per text."""
        return [
            {
                "label": str(label),
                "confidence": float(confidence),
                "probabilities": {str(c): float(p) for c, p in zip(self.classes, row, strict=True)},
            }
            for label, confidence, row in zip(self.labels, self.confidence, self.proba, strict=True)
        ]


def model_classes(model: Any) -> np.ndarray:
    return np.asarray(model.classes_).astype(str)


def score_texts(model: Any, texts: list[str]) -> Scores:
    return Scores(model_classes(model), np.asarray(model.predict_proba(texts)))
