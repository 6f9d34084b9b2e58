"""Batch scoring on Spark: the local engine (`textclf.batch.local`) with Spark doing the
partitioning, scheduling and retries. Same inputs, same output columns, same manifest.

Runs wherever Spark does: `textclf batch-predict --engine spark` here (`local[*]`), or as the
entry point of an EMR Serverless job run, which `textclf.batch.emr` submits with this file and
the packed environment (`scripts/build-emr-env.py`).

For each input the manifest has not seen with its current content, the driver:
1. reads it with Spark (Parquet, CSV, JSONL); the id column, or each row's number in the file
   (`number_rows`), identifies its rows;
2. keeps a big file's own splits as the partitions (no shuffle); a file in fewer slices than
   cores (small, or a CSV, read whole) is spread over `batch.spark.partitions_per_core` tasks
   per core, range-partitioned on the row order, so part files always follow the input's order
   (monitoring pairs them with the input's rows, as on one machine);
3. scores each Arrow batch of `batch.chunk_rows` rows with `mapInPandas` over
   `textclf.batch.job.scored_frame`, the one scoring function (each Python worker loads the
   model once);
4. writes a Parquet folder into `_staging/<run>/`, then publishes it as `<input stem>.parquet/` and
   records it in the manifest. A killed run leaves only staging, which the next run clears; an
   output is in the manifest only once it is whole, so a re-run scores nothing twice.

The job writes what it did (scored, skipped, failed) as JSON to `--result`, for the flow that
started it. Run it as a script on EMR: `spark-submit spark_job.py --input ... --output ...`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textclf.batch import job as batch
from textclf.batch.job import BatchJob
from textclf.core import storage
from textclf.core.errors import DataError, TextclfError
from textclf.core.params import BatchParams, PredictParams, build_section
from textclf.core.tables import parquet_rows, table_format
from textclf.ml.persist import LoadedModel, load_model_file, save_model

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

STAGING = "_staging"
ROW = "_row"
# Hadoop expands these in the paths Spark reads, and the multi-line CSV reader does it twice,
# so no escaping names such a file reliably.
GLOB_CHARACTERS = re.compile(r"[\[\]{}*?\\]")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobModel:
    """The model as the job's tasks see it: a local file every worker loads once."""

    path: str
    name: str
    version: str

    def load(self) -> LoadedModel:
        return LoadedModel(_pipeline(self.path), self.name, self.version, self.path)


@functools.lru_cache(maxsize=1)
def _pipeline(path: str) -> Any:
    """Loaded once per Python worker (Spark reuses them across tasks). On a cluster the file
    reached the executors through `SparkContext.addFile`."""
    if not Path(path).exists():
        from pyspark import SparkFiles

        path = SparkFiles.get(Path(path).name)
    return load_model_file(Path(path)).pipeline


def run_spark_batch(spark: SparkSession, model: JobModel, job: BatchJob) -> batch.BatchResult:
    """Score each pending input of `job` with Spark, its tasks loading `model`; a bad file goes
    to `failed` and the others run."""
    output = job.output_location
    _clear_staging(output)

    def score(pending: batch.PendingInput, target: str) -> batch.FileScored:
        staging = storage.join(output, STAGING, job.run_id, pending.output)
        scored = score_spark_file(spark, model, job, pending.path, staging)
        storage.replace_folder(staging, target)
        return scored

    result = batch.score_inputs(
        job.model, job.input_location, output, score, engine="spark", run_id=job.run_id
    )
    _clear_staging(output)
    return result


def run_here(job: BatchJob) -> batch.BatchResult:
    """The job in this process, on `batch.spark.master` (engine spark)."""
    spark = spark_session(job.settings.spark.master, job.settings)
    try:
        with tempfile.TemporaryDirectory(prefix="textclf-model-") as folder:
            path = Path(folder) / "model.skops"
            save_model(job.model.pipeline, path)
            job_model = JobModel(str(path), job.model.name, job.model.version)
            spark.sparkContext.addFile(job_model.path)
            return run_spark_batch(spark, job_model, job)
    finally:
        spark.stop()
        _pipeline.cache_clear()


def score_spark_file(
    spark: SparkSession, model: JobModel, job: BatchJob, path: str, target: str
) -> batch.FileScored:
    """Score one input into a Parquet folder at `target`; returns its rows and empty texts."""
    from pyspark.sql import functions as F

    settings, classes = job.settings, job.model.classes
    frame = read_input(spark, path)
    batch.check_text_column(frame.columns, path, settings)
    keep = [settings.text_column]
    if settings.id_column in frame.columns:
        keep.append(settings.id_column)
        # ids given: any increasing key keeps the input's order
        ordered = frame.select(*keep).withColumn(ROW, F.monotonically_increasing_id())
    else:
        ordered = number_rows(frame.select(*keep))  # the row number is the id
    cores = spark.sparkContext.defaultParallelism
    if ordered.rdd.getNumPartitions() < cores:
        # Too few slices of the file to keep every core busy (a small file, or a CSV, which is
        # read whole): spread it, in order. A big file's own splits need no shuffle.
        ordered = ordered.repartitionByRange(
            cores * settings.spark.partitions_per_core, ROW
        ).sortWithinPartitions(ROW)
    scorer = functools.partial(
        _score_batches,
        model=model,
        source_name=Path(path).name,
        settings=settings,
        min_confidence=job.predict.min_confidence,
        scored_at=batch.now(),
    )
    scored = ordered.mapInPandas(scorer, schema=output_schema(classes))
    scored.write.mode("overwrite").parquet(spark_path(target))
    rows = parquet_rows(target)
    if rows == 0:
        raise DataError(path, "the file has no rows", "remove it or add rows")
    text = F.col(settings.text_column)
    empty = frame.filter(text.isNull() | (F.trim(text.cast("string")) == "")).count()
    return batch.FileScored(rows, empty)


def _score_batches(
    batches: Iterator[pd.DataFrame],
    model: JobModel,
    source_name: str,
    settings: BatchParams,
    min_confidence: float,
    scored_at: str,
) -> Iterator[pd.DataFrame]:
    loaded = model.load()
    for chunk in batches:
        ids = batch.chunk_ids(chunk, source_name, settings, chunk[ROW].to_numpy())
        scores = loaded.score(batch.texts_of(chunk, source_name, settings), min_confidence)
        yield batch.scored_frame(loaded, scores, ids, scored_at)


def read_input(spark: SparkSession, path: str) -> DataFrame:
    """Parquet, CSV (a header row, RFC 4180 quoting, newlines inside quotes) or JSON lines."""
    fmt = table_format(path)
    if GLOB_CHARACTERS.search(path):
        raise DataError(
            path,
            "Spark reads paths as glob patterns, and this one has glob characters ([]{}*?\\)",
            "rename the file or its folders, or score it with batch.engine: local",
        )
    location = spark_path(path)
    try:
        if fmt == "parquet":
            return spark.read.parquet(location)
        if fmt == "csv":
            return spark.read.csv(location, header=True, multiLine=True, escape='"')
        return spark.read.json(location)
    except Exception as error:  # Spark's AnalysisException or a Java error: unreadable as fmt
        message = _first_line(error)
        raise DataError(
            path, f"cannot be read as {fmt} ({message})", f"replace it with a valid {fmt} file"
        ) from error


def _first_line(error: Exception) -> str:
    """The Java exception's own message, not py4j's "An error occurred while calling ..."."""
    lines = [line.removeprefix(": ").strip() for line in str(error).splitlines()]
    useful = [line for line in lines if line and not line.startswith("An error occurred")]
    return (useful or [type(error).__name__])[0][:300]


def number_rows(frame: DataFrame) -> DataFrame:
    """Add `_row`, each row's position in the file (0-based), without a pass through Python:
    Spark's monotonically increasing id is the partition index in the upper bits and the row's
    place in its partition below; partitions of one file are its consecutive slices, so the
    counts of the partitions before a row give its offset (one counting pass)."""
    from pyspark.sql import functions as F

    with_id = frame.withColumn("_partition", F.spark_partition_id()).withColumn(
        "_id", F.monotonically_increasing_id()
    )
    counts = dict(with_id.groupBy("_partition").count().collect())
    if not counts:
        return with_id.withColumn(ROW, F.lit(0).cast("long")).drop("_partition", "_id")
    offsets, total = {}, 0
    for partition in sorted(counts):
        offsets[partition] = total
        total += counts[partition]
    offset = F.create_map(*[F.lit(value) for pair in offsets.items() for value in pair])
    in_partition = F.col("_id") - F.shiftleft(F.col("_partition").cast("long"), 33)
    numbered = with_id.withColumn(ROW, offset[F.col("_partition")] + in_partition)
    return numbered.drop("_partition", "_id")


def output_schema(classes: list[str]) -> Any:
    """The columns `batch.scored_frame` returns, as Spark types."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    fields = [
        StructField("id", StringType()),
        StructField("predicted_label", StringType()),
        StructField("confidence", DoubleType()),
        *(StructField(f"proba_{label}", DoubleType()) for label in classes),
        StructField("model_name", StringType()),
        StructField("model_version", StringType()),
        StructField("scored_at", StringType()),
    ]
    return StructType(fields)


def spark_path(location: str) -> str:
    """A location as Spark's Hadoop filesystems name it: `s3://` as is (EMRFS), local paths
    absolute."""
    return location if storage.is_remote(location) else str(Path(location).resolve())


def _clear_staging(output_location: str) -> None:
    staging = storage.join(output_location, STAGING)
    if storage.exists(staging):
        storage.remove(staging)


def spark_session(master: str | None, settings: BatchParams) -> SparkSession:
    """A session for the job; `master` None takes the cluster's (spark-submit, EMR)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("textclf-batch")
    if master:
        builder = builder.master(master).config("spark.ui.enabled", "false")
    return (
        builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(settings.chunk_rows))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def stage_model(model_location: str, folder: Path) -> str:
    """A local copy of the model file (the job may be given an `s3://` one)."""
    if not storage.is_remote(model_location):
        return str(Path(model_location).resolve())
    local = folder / Path(model_location).name
    storage.download(model_location, local)
    return str(local)


def job_settings(raw: dict) -> tuple[BatchParams, PredictParams]:
    """The `batch` and `predict` params sections, as `settings_json` wrote them."""
    return (
        build_section(BatchParams, raw["batch"], "batch"),
        build_section(PredictParams, raw["predict"], "predict"),
    )


def settings_json(settings: BatchParams, predict: PredictParams) -> str:
    return json.dumps(
        {"batch": dataclasses.asdict(settings), "predict": dataclasses.asdict(predict)}
    )


def main(argv: list[str] | None = None) -> int:
    """The job's command line (EMR Serverless entry point arguments)."""
    parser = argparse.ArgumentParser(prog="spark_job", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="folder (or file) of batch inputs")
    parser.add_argument("--output", required=True, help="folder of scored outputs + manifest")
    parser.add_argument("--model", required=True, help="a model.skops, local or s3://")
    parser.add_argument("--model-name", default="model")
    parser.add_argument("--model-version", default="local")
    parser.add_argument("--settings", required=True, help="JSON: batch and predict params")
    parser.add_argument("--run-id", required=True, help="names the staging folder")
    parser.add_argument("--result", help="where to write the run's result as JSON")
    parser.add_argument("--master", help="Spark master [default: the cluster's]")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings, predict = job_settings(json.loads(args.settings))
    spark = spark_session(args.master, settings)
    try:
        with tempfile.TemporaryDirectory(prefix="textclf-model-") as folder:
            model = JobModel(
                stage_model(args.model, Path(folder)), args.model_name, args.model_version
            )
            spark.sparkContext.addFile(model.path)
            job = BatchJob(model.load(), args.input, args.output, settings, predict, args.run_id)
            result = run_spark_batch(spark, model, job)
    except TextclfError as error:
        log.error("%s", error)
        if args.result:
            storage.publish_json({"error": str(error), "kind": type(error).__name__}, args.result)
        return error.exit_code
    finally:
        spark.stop()
    if args.result:
        storage.publish_json(result.as_dict(), args.result)
    print(json.dumps(result.as_dict(), indent=2))
    # Inputs left unscored are in the result, as on one machine (the flow fails the run after
    # monitoring the others); a non-zero exit, which EMR reports as FAILED, is for the job itself.
    return 0


if __name__ == "__main__":
    # Run as a file (spark-submit, EMR): call the installed module instead, so the functions
    # Spark ships to its workers are imported there by name, with their model cache.
    from textclf.batch import spark_job

    sys.exit(spark_job.main())
