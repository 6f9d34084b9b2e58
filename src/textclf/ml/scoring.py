"""Score texts with a fitted pipeline: one label, one confidence and one probability per class.

The one place that turns probabilities into answers: evaluation, batch scoring, `textclf
predict` and the promotion rule all call `score_texts`, so they cannot disagree. Below
`predict.min_confidence` the answer is `uncertain` (abstention); metrics use the model's own
label (`labels`), what callers are told is `answers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from textclf.core.errors import ParamsError

UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Scores:
    classes: np.ndarray  # class names as strings, in the model's order
    proba: np.ndarray  # one row per text, one column per class
    min_confidence: float = 0.0  # below it the answer is UNCERTAIN

    @property
    def labels(self) -> np.ndarray:
        """The most probable class of each text, whatever its confidence."""
        return self.classes[self.proba.argmax(axis=1)]

    @property
    def answers(self) -> np.ndarray:
        """The label, or UNCERTAIN when the confidence is under `min_confidence`."""
        labels = self.labels.astype(object)
        labels[self.confidence < self.min_confidence] = UNCERTAIN
        return labels

    @property
    def confidence(self) -> np.ndarray:
        return self.proba.max(axis=1)

    def __len__(self) -> int:
        return len(self.proba)

    def columns(self) -> dict[str, Any]:
        """The scored columns every output carries: label, confidence, `proba_<class>`."""
        columns: dict[str, Any] = {
            "predicted_label": self.answers,
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
            for label, confidence, row in zip(
                self.answers, self.confidence, self.proba, strict=True
            )
        ]


def model_classes(model: Any) -> np.ndarray:
    return np.asarray(model.classes_).astype(str)


def score_texts(model: Any, texts: list[str], min_confidence: float = 0.0) -> Scores:
    classes = model_classes(model)
    if min_confidence > 0 and UNCERTAIN in classes:
        raise ParamsError(
            "predict.min_confidence",
            f"the model has a class named '{UNCERTAIN}', the answer kept for abstention",
            "set predict.min_confidence: 0, or rename that class in the data",
        )
    return Scores(classes, np.asarray(model.predict_proba(texts)), min_confidence)
