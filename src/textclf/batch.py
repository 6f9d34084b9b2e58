"""Batch prediction: score every new or changed input file under a location with a model.

Plain functions (the Prefect flow in `flows.py` is a thin layer over them). Inputs and outputs
are local paths or `s3://` URLs. Each input (Parquet, CSV or JSONL) is read in chunks, so memory
stays bounded whatever its size, and written as one Parquet file under the output location,
atomically. A manifest (`_manifest.json` in the output location) records every scored input with
its content fingerprint: a re-run scores nothing twice, and a changed input is scored again.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from textclf.errors import DataError
from textclf.files import atomic_path
from textclf.params import BatchParams

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

MANIFEST = "_manifest.json"
READERS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
T = TypeVar("T")


@dataclass
class ScoringModel:
    """A fitted pipeline and the registry coordinates written into every output row."""

    pipeline: Any
    name: str
    version: str


@dataclass
class BatchResult:
    scored: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"scored": self.scored, "skipped": self.skipped, "failed": self.failed}


def filesystem(location: str) -> AbstractFileSystem:
    """The fsspec filesystem of a location; S3 honours AWS_ENDPOINT_URL_S3 (the local stack)."""
    import fsspec

    if location.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        options = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
        return fsspec.filesystem("s3", skip_instance_cache=True, **options)
    return fsspec.filesystem("file")


def with_retries(action: Callable[[], T], attempts: int = 3, delay: float = 0.5) -> T:
    """Retry transient storage errors (connection resets, throttling) with back-off."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except DataError:
            raise
        except (OSError, TimeoutError) as error:
            if attempt == attempts or isinstance(error, FileNotFoundError):
                raise
            time.sleep(delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def run_batch(
    model: ScoringModel,
    input_location: str,
    output_location: str,
    settings: BatchParams = BatchParams(),
) -> BatchResult:
    """Score each pending input; a bad file is reported in `failed` and the others still run."""
    fs_in, fs_out = filesystem(input_location), filesystem(output_location)
    manifest = load_manifest(fs_out, output_location)
    result = BatchResult()
    for path, fingerprint in pending_inputs(fs_in, input_location, manifest, result):
        relative = _relative(path, input_location)
        target = f"{output_location.rstrip('/')}/{relative}.parquet"
        try:
            rows = score_file(
                model,
                fs_in,
                path,
                fs_out,
                target,
                settings.text_column,
                settings.id_column,
                settings.chunk_rows,
            )
        except DataError as error:
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
        save_manifest(fs_out, output_location, manifest)  # after each file: a kill loses little
        result.scored.append({"input": relative, **entry})
    return result


def pending_inputs(
    fs: Any, location: str, manifest: dict, result: BatchResult
) -> Iterator[tuple[str, str]]:
    for path in list_inputs(fs, location):
        fingerprint = with_retries(lambda p=path: content_fingerprint(fs, p))
        done = manifest["inputs"].get(_relative(path, location))
        if done and done["fingerprint"] == fingerprint:
            result.skipped.append(_relative(path, location))
        else:
            yield path, fingerprint


def list_inputs(fs: Any, location: str) -> list[str]:
    if not with_retries(lambda: fs.exists(location)):
        raise DataError(location, "the batch input location does not exist", "check batch.input")
    found = with_retries(lambda: fs.find(location))
    return sorted(
        path for path in found if Path(path).suffix in READERS and Path(path).name != MANIFEST
    )


def read_head(location: str, rows: int) -> pd.DataFrame:
    """The first `rows` rows of an input or scored file, reading no further than needed."""
    chunks, total = [], 0
    for chunk in read_chunks(filesystem(location), location, min(rows, 50_000)):
        chunks.append(chunk)
        total += len(chunk)
        if total >= rows:
            break
    return pd.concat(chunks, ignore_index=True).head(rows)


def content_fingerprint(fs: Any, path: str) -> str:
    """S3's ETag (the MD5 of a single-part object), or the MD5 of a local file."""
    info = fs.info(path)
    if info.get("ETag"):
        return str(info["ETag"]).strip('"')
    from textclf.files import file_digest

    return file_digest(path)


def read_chunks(fs: Any, path: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    kind = READERS[Path(path).suffix]
    try:
        with fs.open(path, "rb") as handle:
            if kind == "parquet":
                for batch in pq.ParquetFile(handle).iter_batches(batch_size=chunk_rows):
                    yield batch.to_pandas()
            elif kind == "csv":
                yield from pd.read_csv(handle, chunksize=chunk_rows, encoding="utf-8")
            else:
                yield from pd.read_json(handle, lines=True, chunksize=chunk_rows, dtype=False)
    except (pa.ArrowException, ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(
            path,
            f"cannot be read as {kind} ({message})",
            f"replace it with a valid {kind} file; it stays unscored until then",
        ) from error


def score_file(
    model: ScoringModel,
    fs_in: Any,
    path: str,
    fs_out: Any,
    target: str,
    text_column: str,
    id_column: str,
    chunk_rows: int,
) -> int:
    """Score one input chunk by chunk into a temporary Parquet file, then publish it whole."""
    classes = [str(label) for label in model.pipeline.classes_]
    rows = 0
    with tempfile.TemporaryDirectory(prefix="textclf-batch-") as tmp:
        local = Path(tmp) / "scored.parquet"
        writer = None
        try:
            for chunk in read_chunks(fs_in, path, chunk_rows):
                table = score_chunk(model, chunk, classes, path, rows, text_column, id_column)
                if writer is None:
                    writer = pq.ParquetWriter(local, table.schema)
                writer.write_table(table)
                rows += len(chunk)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise DataError(path, "the file has no rows", "remove it or add rows")
        publish(fs_out, local, target)
    return rows


def score_chunk(
    model: ScoringModel,
    chunk: pd.DataFrame,
    classes: list[str],
    path: str,
    offset: int,
    text_column: str,
    id_column: str,
) -> pa.Table:
    if text_column not in chunk.columns:
        raise DataError(
            path,
            f"no '{text_column}' column (columns: {', '.join(map(str, chunk.columns))})",
            "write the text to score in a 'text' column, or set batch.text_column",
            field=text_column,
        )
    texts = chunk[text_column].fillna("").astype(str).tolist()
    proba = model.pipeline.predict_proba(texts)
    if id_column in chunk.columns:
        ids = chunk[id_column].astype(str).to_numpy()
    else:
        ids = np.array([f"{Path(path).name}:{offset + i + 1}" for i in range(len(chunk))])
    columns: dict[str, Any] = {
        "id": ids,
        "predicted_label": np.asarray(classes)[proba.argmax(axis=1)],
        "confidence": proba.max(axis=1),
    }
    columns.update({f"proba_{label}": proba[:, i] for i, label in enumerate(classes)})
    columns["model_name"] = model.name
    columns["model_version"] = model.version
    columns["scored_at"] = _now()
    return pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)


def publish(fs: Any, local: Path, target: str) -> None:
    """Make `target` appear whole or not at all: a rename locally, a single PUT on S3."""
    if target.startswith("s3://"):
        with_retries(lambda: fs.put_file(str(local), target))
    else:
        with atomic_path(target) as tmp:
            os.replace(local, tmp)


def load_manifest(fs: Any, output_location: str) -> dict:
    path = f"{output_location.rstrip('/')}/{MANIFEST}"
    if not with_retries(lambda: fs.exists(path)):
        return {"inputs": {}}
    with fs.open(path, "r") as handle:
        return json.load(handle)


def save_manifest(fs: Any, output_location: str, manifest: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="textclf-manifest-") as tmp:
        local = Path(tmp) / MANIFEST
        local.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        publish(fs, local, f"{output_location.rstrip('/')}/{MANIFEST}")


def load_champion(name: str) -> ScoringModel:
    import mlflow

    from textclf.registry import CHAMPION, version_by_alias

    version = version_by_alias(mlflow.MlflowClient(), name, CHAMPION)
    if version is None:
        raise DataError(
            f"models:/{name}@{CHAMPION}",
            "there is no champion to score with",
            "register and promote one: `textclf register` then `textclf promote`",
        )
    pipeline = mlflow.sklearn.load_model(f"models:/{name}/{version.version}")
    return ScoringModel(pipeline, name, str(version.version))


def _relative(path: str, location: str) -> str:
    root = location.removeprefix("s3://").rstrip("/")
    return path.removeprefix("s3://").removeprefix(root).lstrip("/")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
