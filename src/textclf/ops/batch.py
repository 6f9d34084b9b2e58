"""Batch prediction: score every new or changed input file under a location with a model.

Plain functions (the Prefect flow in `flows.py` is a thin layer over them). Inputs and outputs
are local paths or `s3://` URLs. Each input (Parquet, CSV or JSONL) is read in chunks, so memory
stays bounded whatever its size, and written as one Parquet file under the output location,
atomically. A manifest (`_manifest.json` in the output location) records every scored input with
its content fingerprint: a re-run scores nothing twice, and a changed input is scored again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from textclf.core import storage
from textclf.core.errors import DataError
from textclf.core.files import remove_leftovers
from textclf.core.params import BatchParams, PredictParams
from textclf.core.progress import Progress
from textclf.core.tables import known_rows, read_chunks, table_format
from textclf.ml.scoring import Scores
from textclf.ml.text import as_texts
from textclf.ml.workers import score_chunks
from textclf.ops.models import LoadedModel

MANIFEST = "_manifest.json"

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    scored: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"scored": self.scored, "skipped": self.skipped, "failed": self.failed}


def score_batch(
    model: LoadedModel,
    input_location: str,
    output_location: str,
    settings: BatchParams,
    answers: PredictParams,
    run_id: str | None = None,
) -> BatchResult:
    """Score the pending inputs with the engine `batch.engine` names: `local` (run_batch, here),
    `spark` (spark_job, on batch.spark.master) or `emr-serverless` (the same job, on EMR).
    `run_id` names the Spark run (and is EMR's idempotency token): a retry passes the same."""
    if settings.engine == "local":
        return run_batch(model, input_location, output_location, settings, answers)
    run_id = run_id or new_run_id()
    if settings.engine == "spark":
        from textclf.ops.spark_job import run_here

        return run_here(model, input_location, output_location, settings, answers, run_id)
    from textclf.ops.emr import EmrSettings, run_on_emr

    return run_on_emr(
        model, input_location, output_location, settings, answers, run_id, EmrSettings.from_env()
    )


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def run_batch(
    model: LoadedModel,
    input_location: str,
    output_location: str,
    settings: BatchParams,
    answers: PredictParams,
) -> BatchResult:
    """Score each pending input; a bad file is reported in `failed` and the others still run.
    Rows under `answers.min_confidence` are labelled `uncertain`."""
    if not storage.is_remote(output_location):
        for leftover in remove_leftovers(output_location):
            log.warning("removed %s, left by a run that was killed", leftover)
    scored_at = now()  # one time per run: the output does not depend on how it was split up
    return score_inputs(
        model,
        input_location,
        output_location,
        lambda pending, target: score_file(
            model, pending.path, target, settings, answers, scored_at
        ),
    )


def score_inputs(
    model: LoadedModel,
    input_location: str,
    output_location: str,
    score: Callable[[PendingInput, str], int],
    **details: Any,
) -> BatchResult:
    """The batch loop every engine shares: `score(pending, target)` publishes one input's
    output at `target` and returns its rows; a DataError leaves that input unscored (reported
    in `failed`), and each scored input is recorded in the manifest at once."""
    manifest = load_manifest(output_location)
    result = BatchResult()
    for pending in pending_inputs(input_location, manifest, result):
        target = storage.join(output_location, f"{pending.relative}.parquet")
        try:
            rows = score(pending, target)
        except DataError as error:
            log.error("left unscored: %s", error)
            result.failed.append({"input": pending.relative, "error": str(error)})
            continue
        record(output_location, manifest, result, pending, target, rows, model, **details)
    return result


@dataclass(frozen=True)
class PendingInput:
    path: str
    relative: str  # below the input location; the output and the manifest key use it
    fingerprint: str


def pending_inputs(
    input_location: str, manifest: dict, result: BatchResult
) -> Iterator[PendingInput]:
    """The inputs the manifest has not seen with their current content; the others go to
    `result.skipped`."""
    for path in list_inputs(input_location):
        relative = storage.relative(path, input_location)
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
    rows: int,
    model: LoadedModel,
    **details: Any,
) -> None:
    """Enter a published output in the manifest, saved at once: a kill loses little."""
    entry = {
        "fingerprint": pending.fingerprint,
        "output": target,
        "rows": rows,
        "model": model.name,
        "model_version": model.version,
        "scored_at": now(),
        **details,
    }
    manifest["inputs"][pending.relative] = entry
    save_manifest(output_location, manifest)
    log.info("scored %s: %d rows -> %s", pending.relative, rows, target)
    result.scored.append({"input": pending.relative, **entry})


def list_inputs(location: str) -> list[str]:
    if not storage.exists(location):
        raise DataError(location, "the batch input location does not exist", "check batch.input")
    return [
        path
        for path in storage.find_files(location)
        if table_format(path) and Path(path).name != MANIFEST
    ]


def score_file(
    model: LoadedModel,
    path: str,
    target: str,
    settings: BatchParams,
    answers: PredictParams,
    scored_at: str,
) -> int:
    """Score one input chunk by chunk (on `batch.workers` processes) into a temporary Parquet
    file, then publish it whole."""
    rows = 0
    with (
        storage.published(target) as local,
        Progress(f"scoring {Path(path).name}", total=known_rows(path)) as progress,
    ):
        writer = None
        try:
            scored = score_chunks(
                model.pipeline,
                read_chunks(path, settings.chunk_rows),
                lambda chunk: texts_of(chunk, path, settings),
                answers.min_confidence,
                settings.workers,
            )
            for chunk, scores in scored:
                ids = chunk_ids(chunk, path, settings, np.arange(rows, rows + len(chunk)))
                frame = scored_frame(model, scores, ids, scored_at)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(local, table.schema)
                writer.write_table(table)
                rows += len(chunk)
                progress.update(len(chunk))
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise DataError(path, "the file has no rows", "remove it or add rows")
    return rows


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
