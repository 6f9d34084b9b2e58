"""What every batch engine shares: the job (`BatchJob`), the inputs still to score, the output
columns, and the manifest.

Inputs and outputs are local paths or `s3://` URLs. Each input (Parquet, CSV or JSONL) becomes
one Parquet output, `<input stem>.parquet`, under the output location. A manifest
(`_manifest.json` in the output location) records every scored input with its content
fingerprint: a re-run scores nothing twice, and a changed input is scored again. The engines
(textclf.batch.local, .spark_job, .emr) differ only in how one input is scored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from textclf.core import storage
from textclf.core.errors import DataError
from textclf.core.params import BatchParams, PredictParams
from textclf.core.tables import table_format
from textclf.ml.persist import LoadedModel
from textclf.ml.scoring import Scores
from textclf.ml.text import as_texts

MANIFEST = "_manifest.json"

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    scored: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"scored": self.scored, "skipped": self.skipped, "failed": self.failed}

    def leave_unscored(self, relative: str, error: DataError) -> None:
        """Report an input that cannot be scored; the others still run."""
        log.error("left unscored: %s", error)
        self.failed.append({"input": relative, "error": str(error)})


@dataclass(frozen=True)
class FileScored:
    """What scoring one input published: its rows, and how many had no text (None, NaN or
    blank: scored as an empty text, so counted and reported rather than passed off)."""

    rows: int
    empty_texts: int = 0


def empty_texts(texts: pd.Series) -> int:
    return int((texts.isna() | (texts.astype(str).str.strip() == "")).sum())


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class BatchJob:
    """One batch run: which model scores what, where the outputs go, and how (the `batch` and
    `predict` params). `run_id` names the run's staging on Spark and is EMR's idempotency
    token: a retry of the same job passes the same one."""

    model: LoadedModel
    input_location: str
    output_location: str
    settings: BatchParams
    predict: PredictParams
    run_id: str = field(default_factory=new_run_id)


def score_inputs(
    model: LoadedModel,
    input_location: str,
    output_location: str,
    score: Callable[[PendingInput, str], FileScored],
    **details: Any,
) -> BatchResult:
    """The batch loop every engine shares: `score(pending, target)` publishes one input's
    output at `target` and says what it scored; a DataError leaves that input unscored (reported
    in `failed`), and each scored input is recorded in the manifest at once."""
    manifest = load_manifest(output_location)
    result = BatchResult()
    for pending in pending_inputs(input_location, manifest, result):
        target = storage.join(output_location, pending.output)
        try:
            scored = score(pending, target)
        except DataError as error:
            result.leave_unscored(pending.relative, error)
            continue
        record(output_location, manifest, result, pending, target, scored, model, **details)
    return result


@dataclass(frozen=True)
class PendingInput:
    path: str
    relative: str  # below the input location; the manifest key
    fingerprint: str

    @property
    def output(self) -> str:
        return output_name(self.relative)


def output_name(relative: str) -> str:
    """An input's output, below the output location: `<folders>/<input stem>.parquet`."""
    return str(PurePosixPath(relative).with_suffix(".parquet"))


def pending_inputs(
    input_location: str, manifest: dict, result: BatchResult
) -> Iterator[PendingInput]:
    """The inputs the manifest has not seen with their current content; the others go to
    `result.skipped`."""
    outputs = {output_name(name): name for name in manifest["inputs"]}
    for path in list_inputs(input_location):
        relative = storage.relative(path, input_location)
        claimed = outputs.setdefault(output_name(relative), relative)
        if claimed != relative:
            error = DataError(
                path,
                f"its output {output_name(relative)} is also {claimed}'s",
                "give inputs in one folder different names before their extension",
            )
            result.leave_unscored(relative, error)
            continue
        fingerprint = storage.fingerprint(path)
        done = manifest["inputs"].get(relative)
        if done and done["fingerprint"] == fingerprint:
            result.skipped.append(relative)
            continue
        yield PendingInput(path, relative, fingerprint)


def record(
    output_location: str,
    manifest: dict,
    result: BatchResult,
    pending: PendingInput,
    target: str,
    scored: FileScored,
    model: LoadedModel,
    **details: Any,
) -> None:
    """Enter a published output in the manifest, saved at once: a kill loses little."""
    entry = {
        "fingerprint": pending.fingerprint,
        "output": target,
        "rows": scored.rows,
        "empty_texts": scored.empty_texts,
        "model": model.name,
        "model_version": model.version,
        "scored_at": now(),
        **details,
    }
    manifest["inputs"][pending.relative] = entry
    save_manifest(output_location, manifest)
    log.info("scored %s: %d rows -> %s", pending.relative, scored.rows, target)
    if scored.empty_texts:
        log.warning(
            "%s: %d of %d rows have no text (scored as an empty text)",
            pending.relative,
            scored.empty_texts,
            scored.rows,
        )
    result.scored.append({"input": pending.relative, **entry})


def list_inputs(location: str) -> list[str]:
    if not storage.exists(location):
        raise DataError(location, "the batch input location does not exist", "check batch.input")
    return [
        path
        for path in storage.find_files(location)
        if table_format(path) and Path(path).name != MANIFEST
    ]


def texts_of(chunk: pd.DataFrame, path: str, settings: BatchParams) -> list[str]:
    check_text_column(chunk.columns, path, settings)
    return as_texts(chunk[settings.text_column].fillna("").astype(str))


def check_text_column(columns: Iterable[str], path: str, settings: BatchParams) -> None:
    columns = [str(column) for column in columns]
    if settings.text_column not in columns:
        raise DataError(
            path,
            f"no '{settings.text_column}' column (columns: {', '.join(columns)})",
            "write the text to score in a 'text' column, or set batch.text_column",
            field=settings.text_column,
        )


def chunk_ids(
    chunk: pd.DataFrame, path: str, settings: BatchParams, row_numbers: np.ndarray
) -> np.ndarray:
    """The chunk's `batch.id_column`, or ids made of the file name and row numbers."""
    if settings.id_column in chunk.columns:
        return chunk[settings.id_column].astype(str).to_numpy()
    return default_ids(path, row_numbers)


def default_ids(path: str, rows: np.ndarray) -> np.ndarray:
    """`<file name>:<row number from 1>`, for inputs without an id column."""
    return np.char.add(f"{Path(path).name}:", (rows + 1).astype(str)).astype(object)


def scored_frame(
    model: LoadedModel, scores: Scores, ids: np.ndarray, scored_at: str
) -> pd.DataFrame:
    """The columns of every scored output, whichever engine scored it: id, the scores
    (`Scores.columns`), model name and version, and when."""
    columns: dict[str, Any] = {"id": ids, **scores.columns()}
    columns["model_name"] = model.name
    columns["model_version"] = model.version
    columns["scored_at"] = scored_at
    return pd.DataFrame(columns)


def load_manifest(output_location: str) -> dict:
    path = storage.join(output_location, MANIFEST)
    return storage.read_json(path) if storage.exists(path) else {"inputs": {}}


def save_manifest(output_location: str, manifest: dict) -> None:
    storage.publish_json(manifest, storage.join(output_location, MANIFEST))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
