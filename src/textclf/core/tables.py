"""Read a tabular file (CSV, JSONL or Parquet; local or `s3://`), whole or in chunks.

The one reader for every table the project takes in: datasets at ingest, batch inputs, scored
batches for monitoring. Its errors name the file, the row where it can (undecodable bytes), and
the fix.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from textclf.core.errors import DataError
from textclf.core.storage import filesystem, storage_errors

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
UTF8_FIX = "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"


def table_format(location: str) -> str | None:
    """The format a file's name says it has, or None."""
    return FORMATS.get(PurePosixPath(location.lower()).suffix)


def read_table(location: str, fmt: str | None = None) -> pd.DataFrame:
    """The whole file as one DataFrame."""
    return next(read_chunks(location, None, fmt))


def read_chunks(
    location: str, chunk_rows: int | None, fmt: str | None = None
) -> Iterator[pd.DataFrame]:
    """The file in DataFrames of at most `chunk_rows` rows (None: one DataFrame), so memory is
    bounded by the chunk, not the file."""
    fmt = fmt or table_format(location)
    if fmt not in FORMATS.values():
        raise DataError(
            location,
            f"cannot tell a table format from {fmt or 'the name'}",
            "name the file .csv, .jsonl or .parquet, or set the format (dataset.format)",
        )
    fs = filesystem(location)
    try:
        with storage_errors(location):
            if fmt == "parquet" and fs.isdir(location):
                yield from _dataset_frames(location, fs, chunk_rows)
                return
        with storage_errors(location), fs.open(location, "rb") as handle:
            yield from _frames(handle, fmt, chunk_rows)
    except UnicodeDecodeError as error:
        raise DataError(
            location,
            f"bytes at offset {error.start} are not valid UTF-8",
            UTF8_FIX,
            row=_first_undecodable_line(location),
        ) from error
    except (pa.ArrowException, ValueError, pd.errors.ParserError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(
            location,
            f"cannot be read as {fmt} ({message})",
            f"replace it with a valid {fmt} file",
            row=_first_bad_json_line(location) if fmt == "jsonl" else None,
        ) from error


def _frames(handle: io.IOBase, fmt: str, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    if fmt == "parquet":
        if chunk_rows is None:
            yield pq.read_table(handle).to_pandas()
        else:
            # pre_buffer off: by default pyarrow buffers every column chunk of the file at
            # once, which costs memory in proportion to the file, not to the chunk.
            parquet = pq.ParquetFile(handle, pre_buffer=False)
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
    elif fmt == "csv":
        options = {"encoding": "utf-8", "dtype_backend": "numpy_nullable"}
        if chunk_rows is None:
            yield pd.read_csv(handle, **options)
        else:
            yield from pd.read_csv(handle, chunksize=chunk_rows, **options)
    elif chunk_rows is None:
        yield pd.read_json(handle, lines=True, dtype=False, encoding="utf-8")
    else:
        yield from pd.read_json(handle, lines=True, dtype=False, chunksize=chunk_rows)


def _dataset_frames(
    location: str, fs: AbstractFileSystem, chunk_rows: int | None
) -> Iterator[pd.DataFrame]:
    """A Parquet folder (what Spark writes): its part files in name order, which is row order
    for the batch job's output; `_SUCCESS` and hidden files are not parts."""
    import pyarrow.dataset as ds

    path = location.removeprefix("s3://")
    dataset = ds.dataset(path, format="parquet", filesystem=fs)
    parts = sorted(dataset.get_fragments(), key=lambda part: part.path)
    if chunk_rows is None:
        yield pa.concat_tables(part.to_table() for part in parts).to_pandas()
        return
    for part in parts:
        for batch in part.to_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


def parquet_rows(location: str) -> int:
    """Rows of a Parquet file or folder, from the footers alone."""
    import pyarrow.dataset as ds

    fs = filesystem(location)
    with storage_errors(location):
        dataset = ds.dataset(location.removeprefix("s3://"), format="parquet", filesystem=fs)
        return sum(part.metadata.num_rows for part in dataset.get_fragments())


def known_rows(location: str) -> int | None:
    """Rows of a Parquet file or folder (from its footers), for progress; None for other formats
    or when it cannot be read (reading it for real then reports why)."""
    if table_format(location) != "parquet":
        return None
    try:
        return parquet_rows(location)
    except Exception:  # the reader's own error, raised when the rows are read, says more
        return None


def read_head(location: str, rows: int) -> pd.DataFrame:
    """The first `rows` rows, reading no further than needed."""
    chunks, total = [], 0
    for chunk in read_chunks(location, min(rows, 50_000)):
        chunks.append(chunk)
        total += len(chunk)
        if total >= rows:
            break
    return pd.concat(chunks, ignore_index=True).head(rows)


def _first_bad_json_line(location: str) -> str | None:
    """Where a JSON-lines file stops being JSON (a file cut mid-write ends in half a line)."""
    with filesystem(location).open(location, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except ValueError:
                return f"{number} (line {number} of the file)"
    return None


def _first_undecodable_line(location: str) -> str | None:
    with filesystem(location).open(location, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return f"{number} (line {number} of the file)"
    return None


def read_stage_output(path: Path, producer: str) -> pd.DataFrame:
    """A pipeline stage's Parquet output, read by a later stage (or the promotion rule)."""
    if not path.exists():
        raise DataError(path, "input is missing", f"run the {producer} stage first (dvc repro)")
    return pd.read_parquet(path)
