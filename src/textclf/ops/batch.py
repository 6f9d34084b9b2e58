"""Batch prediction: score every new or changed input file under a location with a model.

Plain functions (the Prefect flow in `flows.py` is a thin layer over them). Inputs and outputs
are local paths or `s3://` URLs. Each input (Parquet, CSV or JSONL) is read in chunks, so memory
stays bounded whatever its size, and written as one Parquet file under the output location,
atomically. A manifest (`_manifest.json` in the output location) records every scored input with
its content fingerprint: a re-run scores nothing twice, and a changed input is scored again.
"""

from __future__ import annotations

import logging
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
from textclf.core.tables import read_chunks, table_format
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
    manifest = load_manifest(output_location)
    result = BatchResult()
    for path in list_inputs(input_location):
        relative = storage.relative(path, input_location)
        fingerprint = storage.fingerprint(path)
        done = manifest["inputs"].get(relative)
        if done and done["fingerprint"] == fingerprint:
            result.skipped.append(relative)
            continue
        target = storage.join(output_location, f"{relative}.parquet")
        try:
            rows = score_file(model, path, target, settings, answers)
        except DataError as error:
            log.error("left unscored: %s", error)
            result.failed.append({"input": relative, "error": str(error)})
            continue
        entry = {
            "fingerprint": fingerprint,
            "output": target,
            "rows": rows,
            "model": model.name,
            "model_version": model.version,
            "scored_at": _now(),
        }
        manifest["inputs"][relative] = entry
        save_manifest(output_location, manifest)  # after each file: a kill loses little
        log.info("scored %s: %d rows -> %s", relative, rows, target)
        result.scored.append({"input": relative, **entry})
    return result


def list_inputs(location: str) -> list[str]:
    if not storage.exists(location):
        raise DataError(location, "the batch input location does not exist", "check batch.input")
    return [
        path
        for path in storage.find_files(location)
        if table_format(path) and Path(path).name != MANIFEST
    ]


def score_file(
    model: LoadedModel, path: str, target: str, settings: BatchParams, answers: PredictParams
) -> int:
    """Score one input chunk by chunk into a temporary Parquet file, then publish it whole."""
    rows = 0
    with storage.published(target) as local:
        writer = None
        try:
            for chunk in read_chunks(path, settings.chunk_rows):
                table = score_chunk(model, chunk, path, rows, settings, answers)
                if writer is None:
                    writer = pq.ParquetWriter(local, table.schema)
                writer.write_table(table)
                rows += len(chunk)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise DataError(path, "the file has no rows", "remove it or add rows")
    return rows


def score_chunk(
    model: LoadedModel,
    chunk: pd.DataFrame,
    path: str,
    offset: int,
    settings: BatchParams,
    answers: PredictParams,
) -> pa.Table:
    if settings.text_column not in chunk.columns:
        raise DataError(
            path,
            f"no '{settings.text_column}' column (columns: {', '.join(map(str, chunk.columns))})",
            "write the text to score in a 'text' column, or set batch.text_column",
            field=settings.text_column,
        )
    texts = chunk[settings.text_column].fillna("").astype(str)
    scores = model.score(texts, answers.min_confidence)
    if settings.id_column in chunk.columns:
        ids = chunk[settings.id_column].astype(str).to_numpy()
    else:
        ids = np.array([f"{Path(path).name}:{offset + i + 1}" for i in range(len(chunk))])
    columns: dict[str, Any] = {"id": ids, **scores.columns()}
    columns["model_name"] = model.name
    columns["model_version"] = model.version
    columns["scored_at"] = _now()
    return pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)


def load_manifest(output_location: str) -> dict:
    path = storage.join(output_location, MANIFEST)
    return storage.read_json(path) if storage.exists(path) else {"inputs": {}}


def save_manifest(output_location: str, manifest: dict) -> None:
    storage.publish_json(manifest, storage.join(output_location, MANIFEST))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
