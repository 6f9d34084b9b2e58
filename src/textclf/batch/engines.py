"""Which engine scores a batch job: `batch.engine` names it. `local` runs here
(textclf.batch.local); `spark` runs the Spark job on batch.spark.master (textclf.batch.spark_job);
`emr-serverless` runs the same Spark job on EMR (textclf.batch.emr)."""

from __future__ import annotations

from textclf.batch.emr import EmrSettings, run_on_emr
from textclf.batch.job import BatchJob, BatchResult
from textclf.batch.local import run_local
from textclf.batch.spark_job import run_here


def score_batch(job: BatchJob) -> BatchResult:
    """Score the job's pending inputs on the engine its settings name."""
    if job.settings.engine == "local":
        return run_local(job)
    if job.settings.engine == "spark":
        return run_here(job)
    return run_on_emr(job, EmrSettings.from_env())
