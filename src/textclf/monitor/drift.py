"""Monitoring: an Evidently report comparing a scored batch with reference data (the held-out
test split of the training dataset).

Text descriptors are computed here, against the served model's own vocabulary (so no word list
has to be downloaded): length in characters, share of words the model has never seen, and share
of non-letter characters. Evidently tests them and the predicted labels for drift, and reports
classification quality when the batch carries labels. Evidently is imported only here: it takes
about ten seconds to import.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textclf.core.params import NormalizeOptions, Params
from textclf.core.storage import published
from textclf.core.tables import read_head
from textclf.ml.persist import LoadedModel
from textclf.ml.text import normalize

DESCRIPTORS = ("length", "oov_share", "non_letter_share")
log = logging.getLogger(__name__)
_LETTER = re.compile(r"[^\W\d_]")


@dataclass
class Verdict:
    drift: bool
    drifted_share: float
    threshold: float
    drifted_columns: list[str]
    rows: int
    accuracy: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def descriptors(texts: list[str], pipeline: Any, options: NormalizeOptions) -> pd.DataFrame:
    """Per-text length, out-of-vocabulary share (words outside the model's unigrams), and
    non-letter share, of the text normalised as the model sees it (`options`)."""
    vectorizer = pipeline.named_steps["vectorize"]
    vocabulary = {term for term in getattr(vectorizer, "vocabulary_", {}) if " " not in term}
    tokenize = vectorizer.build_tokenizer()
    rows = []
    for raw in texts:
        text = normalize(raw, options)
        words = [word.lower() for word in tokenize(text)]
        visible = [char for char in text if not char.isspace()]
        letters = sum(1 for char in visible if _LETTER.match(char))
        rows.append(
            {
                "length": len(text),
                "oov_share": (
                    sum(word not in vocabulary for word in words) / len(words) if words else 1.0
                ),
                "non_letter_share": 1 - letters / len(visible) if visible else 1.0,
            }
        )
    return pd.DataFrame(rows, columns=list(DESCRIPTORS))


def monitoring_frame(
    texts: list[str],
    predicted: list[str],
    pipeline: Any,
    options: NormalizeOptions,
    labels: list[str] | None = None,
) -> pd.DataFrame:
    frame = descriptors(texts, pipeline, options)
    frame["predicted_label"] = [str(label) for label in predicted]
    if labels is not None:
        frame["label"] = [str(label) for label in labels]
    return frame


def drift_report(
    current: pd.DataFrame, reference: pd.DataFrame, classes: list[str], drift_share: float
) -> tuple[Any, dict, Verdict]:
    """Run Evidently; return its snapshot (save_html), its result as a dict, and the verdict."""
    from evidently import (
        BinaryClassification,
        DataDefinition,
        Dataset,
        MulticlassClassification,
        Report,
    )
    from evidently.presets import ClassificationPreset, DataDriftPreset

    columns = [*DESCRIPTORS, "predicted_label"]
    labelled = "label" in current.columns and "label" in reference.columns
    classification = []
    metrics: list[Any] = [DataDriftPreset(columns=columns, drift_share=drift_share)]
    if labelled:
        task = (
            BinaryClassification(
                target="label", prediction_labels="predicted_label", pos_label=classes[-1]
            )
            if len(classes) == 2
            else MulticlassClassification(target="label", prediction_labels="predicted_label")
        )
        classification.append(task)
        metrics.append(ClassificationPreset())
    definition = DataDefinition(
        numerical_columns=list(DESCRIPTORS),
        categorical_columns=["predicted_label", *(["label"] if labelled else [])],
        classification=classification or None,
    )
    snapshot = Report(metrics).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    return snapshot, result, verdict(result, drift_share, len(current))


def _column_drifted(metric: dict) -> bool:
    """Evidently picks the test by sample size: a p-value (drift when small, e.g. K-S below
    1,000 reference rows) or a distance (drift when large, e.g. Wasserstein above)."""
    config, value = metric["config"], float(metric["value"])
    threshold = float(config.get("threshold") or 0.05)
    if "p_value" in str(config.get("method", "")):
        return value < threshold
    return value >= threshold


def verdict(result: dict, threshold: float, rows: int) -> Verdict:
    drifted_share, drifted, accuracy = 0.0, [], None
    for metric in result["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":DriftedColumnsCount"):
            drifted_share = float(metric["value"]["share"])
        elif kind.endswith(":ValueDrift") and _column_drifted(metric):
            drifted.append(metric["config"]["column"])
        elif kind.endswith(":Accuracy"):
            accuracy = float(metric["value"])
    return Verdict(
        drift=drifted_share >= threshold,
        drifted_share=round(drifted_share, 4),
        threshold=threshold,
        drifted_columns=sorted(drifted),
        rows=rows,
        accuracy=None if accuracy is None or np.isnan(accuracy) else round(accuracy, 4),
    )


def model_labels(scored: pd.DataFrame) -> list[str]:
    """The model's own label of each scored row, from its probabilities: `predicted_label` says
    `uncertain` under predict.min_confidence, and drift and quality are about the model."""
    proba = scored.filter(like="proba_")
    return [column.removeprefix("proba_") for column in proba.idxmax(axis=1)]


def monitor_batch(
    model: LoadedModel,
    input_file: str,
    scored_file: str,
    params: Params,
    reference_split: Path,
) -> Verdict:
    """Compare the first `monitor.sample_rows` of a scored batch (texts from `input_file`,
    predictions from `scored_file`) with held-out rows of the training dataset (`reference_split`,
    the test split); save HTML and JSON next to the scored file."""
    current_input = read_head(input_file, params.monitor.sample_rows)
    scored = read_head(scored_file, len(current_input))
    text_column, label_column = params.batch.text_column, params.dataset.label_column
    labels = (
        current_input[label_column].astype(str).tolist()
        if label_column in current_input.columns
        else None
    )
    current = monitoring_frame(
        current_input[text_column].fillna("").astype(str).tolist(),
        model_labels(scored),
        model.pipeline,
        params.prepare.normalize,
        labels,
    )
    # Held-out rows: the training split itself would be a biased reference, since every word
    # seen twice in it is in the model's vocabulary by construction.
    reference = reference_frame(model, reference_split, params)
    snapshot, result, verdict = drift_report(
        current, reference, model.classes, params.monitor.drift_share
    )
    save_report(snapshot, result, verdict, scored_file)
    log.info("monitored %s: %s", scored_file, verdict.as_dict())
    return verdict


def reference_frame(model: LoadedModel, split: Path, params: Params) -> pd.DataFrame:
    rows = pd.read_parquet(split, columns=["text", "label"])
    sample = rows.sample(
        min(len(rows), params.monitor.sample_rows), random_state=params.monitor.seed
    )
    texts = sample["text"].tolist()
    return monitoring_frame(
        texts,
        list(model.score(texts).labels),
        model.pipeline,
        params.prepare.normalize,
        sample["label"].tolist(),
    )


def save_report(snapshot: Any, result: dict, verdict: Verdict, scored_file: str) -> None:
    stem = scored_file.removesuffix(".parquet")
    with published(f"{stem}.monitor.html") as html:
        snapshot.save_html(str(html))
    with published(f"{stem}.monitor.json") as summary:
        summary.write_text(
            json.dumps({"verdict": verdict.as_dict(), "evidently": result}, default=str)
        )
