"""Which engine scores a batch job: `batch.engine` names it. `local` runs here
(textclf.batch.local); `spark` runs the Spark job on batch.spark.master (textclf.batch.spark_job);
`emr-serverless` runs the same Spark job on EMR (textclf.batch.emr)."""

from __future__ import annotations

from textclf.batch.emr import EmrSettings, run_on_emr
from textclf.batch.job import BatchJob, BatchResult
from textclf.batch.local import run_local
from textclf.batch.spark_job import run_here
from textclf.core import storage
from textclf.core.errors import DataError


def score_batch(job: BatchJob) -> BatchResult:
    """Score the job's pending inputs on the engine its settings name."""
    check_output_location(job.output_location)
    if job.settings.engine == "local":
        return run_local(job)
    if job.settings.engine == "spark":
        return run_here(job)
    return run_on_emr(job, EmrSettings.from_env())


def check_output_location(location: str) -> None:
    """The output is a folder (outputs and the manifest): an existing file there is an error
    before anything is scored, not a FileExistsError after."""
    with storage.storage_errors(location):
        is_file = storage.filesystem(location).isfile(location)
    if is_file:
        raise DataError(
            location,
            "is a file, but batch output is a folder (one Parquet file per input, a manifest)",
            "name a folder for --output (batch.output): a new one, or the last run's",
        )
