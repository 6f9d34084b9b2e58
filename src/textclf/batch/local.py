"""The `local` batch engine: each pending input read in chunks (memory stays bounded whatever
its size), scored on `batch.workers` processes, and written as one Parquet file, atomically."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from textclf.batch.job import (
    BatchJob,
    BatchResult,
    FileScored,
    chunk_ids,
    empty_texts,
    now,
    score_inputs,
    scored_frame,
    texts_of,
)
from textclf.core import storage
from textclf.core.errors import DataError
from textclf.core.files import remove_leftovers
from textclf.core.progress import Progress
from textclf.core.tables import known_rows, read_chunks
from textclf.ml.workers import score_chunks

log = logging.getLogger(__name__)


def run_local(job: BatchJob) -> BatchResult:
    """Score each pending input; a bad file is reported in `failed` and the others still run.
    Rows under `predict.min_confidence` are labelled `uncertain`."""
    if not storage.is_remote(job.output_location):
        for leftover in remove_leftovers(job.output_location):
            log.warning("removed %s, left by a run that was killed", leftover)
    scored_at = now()  # one time per run: the output does not depend on how it was split up
    return score_inputs(
        job.model,
        job.input_location,
        job.output_location,
        lambda pending, target: score_local_file(job, pending.path, target, scored_at),
    )


def score_local_file(job: BatchJob, path: str, target: str, scored_at: str) -> FileScored:
    """Score one input chunk by chunk (on `batch.workers` processes) into a temporary Parquet
    file, then publish it whole."""
    model, settings, rows, empty = job.model, job.settings, 0, 0
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
                job.predict.min_confidence,
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
                empty += empty_texts(chunk[settings.text_column])
                progress.update(len(chunk))
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise DataError(path, "the file has no rows", "remove it or add rows")
    return FileScored(rows, empty)
