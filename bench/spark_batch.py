"""Benchmark the Spark batch job against the single-process path, with the default model trained
on the full IMDB train split, on inputs made of the 50,000 unlabelled reviews repeated.

Each measurement runs in its own process (`--one ENGINE ROWS WORK`), which reports reviews/s and
peak resident memory (the driver's Python, Spark's JVM, and the whole process tree):

- `single`: `run_batch`, today's path (read in chunks, score, write Parquet, manifest);
- `local[1]`, `local[2]`: `spark_job.run_spark_batch` with that master (mapInPandas over the
  project's scoring function);
- `udf[2]`: `mlflow.pyfunc.spark_udf` over the same model (its predict_proba), local[2], for the
  comparison the job's design rests on (probabilities only: no labels, abstention or ids).

    uv run python bench/spark_batch.py [--sizes 50000,200000,1000000] [--archive ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from peak_memory import PeakMemory
from results import recorded  # bench/results.py, beside this script
from textclf.ml.persist import save_model, trusted_types

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"
# engine => sizes it runs (the single-process path and local[1] at 200k only: each takes minutes)
PLAN = {
    "single": (200_000,),
    "local[1]": (200_000,),
    "local[2]": (50_000, 200_000, 1_000_000),
    "udf[2]": (50_000,),
}


def prepare_inputs(work: Path, archive: Path, sizes: list[int]) -> Path:
    """The model (skops) and one Parquet input folder per size."""
    from textclf.ml.params import load_params
    from textclf.pipeline.ingest import read_aclimdb
    from textclf.pipeline.prepare import prepare
    from textclf.pipeline.train import train

    params = load_params(REPO / "params.yaml")
    data = read_aclimdb(archive)
    started = time.perf_counter()
    splits = prepare(data.labelled, params.prepare)
    pipeline = train(splits.train, splits.validation, params).model
    print(f"fit on the full train split: {time.perf_counter() - started:.1f} s", flush=True)
    save_model(pipeline, work / "model.skops")
    unlabelled = data.unlabelled[["text"]].reset_index(drop=True)
    for size in sizes:
        folder = work / f"in-{size}"
        folder.mkdir()
        copies = -(-size // len(unlabelled))
        rows = pd.concat([unlabelled] * copies, ignore_index=True).head(size)
        rows.insert(0, "id", [f"r{i}" for i in range(size)])
        for part, start in enumerate(range(0, size, 200_000)):
            rows.iloc[start : start + 200_000].to_parquet(
                folder / f"part{part:02d}.parquet", row_group_size=20_000
            )
    return work


def measure(engine: str, work: Path, size: int) -> dict:
    """One measurement, in this process."""
    from textclf.batch import local, spark_job
    from textclf.batch.job import BatchJob
    from textclf.ml.params import load_params

    params = load_params(REPO / "params.yaml")
    source, target = str(work / f"in-{size}"), str(work / f"out-{engine}-{size}")
    model = spark_job.JobModel(str(work / "model.skops"), "bench", "1")
    memory = PeakMemory()
    started = time.perf_counter()
    if engine == "single":
        local.run_local(BatchJob(model.load(), source, target, params.batch, params.predict))
    elif engine.startswith("local"):
        spark = spark_job.spark_session(engine, params.batch)
        spark.sparkContext.addFile(model.path)
        started = time.perf_counter()
        spark_job.run_spark_batch(
            spark,
            model,
            BatchJob(model.load(), source, target, params.batch, params.predict, "bench"),
        )
        spark.stop()
    else:
        import mlflow

        mlflow.sklearn.save_model(
            model.load().pipeline,
            work / "mlflow-model",
            serialization_format="skops",  # as track.py logs it
            skops_trusted_types=sorted(trusted_types()),
            pyfunc_predict_fn="predict_proba",
        )
        spark = spark_job.spark_session("local[2]", params.batch)
        started = time.perf_counter()
        udf = mlflow.pyfunc.spark_udf(
            spark, str(work / "mlflow-model"), result_type="array<double>", env_manager="local"
        )
        frame = spark.read.parquet(source)
        frame.withColumn("proba", udf("text")).drop("text").write.parquet(target)
        spark.stop()
    seconds = time.perf_counter() - started
    return {"engine": engine, "rows": size, "seconds": round(seconds, 1), **memory.stop()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--one", nargs=3, metavar=("ENGINE", "ROWS", "WORK"))
    parser.add_argument("--engines", help="comma-separated subset of: " + ", ".join(PLAN))
    parser.add_argument("--max-rows", type=int, help="skip the sizes above it")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if args.one:
        engine, rows, work = args.one
        print(json.dumps(measure(engine, Path(work), int(rows))), flush=True)
        return
    plan = {
        engine: tuple(size for size in sizes if not args.max_rows or size <= args.max_rows)
        for engine, sizes in PLAN.items()
        if not args.engines or engine in args.engines.split(",")
    }
    sizes = sorted({size for sizes in plan.values() for size in sizes})
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        work = prepare_inputs(Path(tmp), args.archive, sizes)
        results = []
        for engine, engine_sizes in plan.items():
            for size in engine_sizes:
                run = subprocess.run(
                    [sys.executable, __file__, "--one", engine, str(size), str(work)],
                    capture_output=True,
                    text=True,
                )
                if run.returncode:
                    print(run.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{engine} at {size} rows failed")
                result = json.loads(run.stdout.strip().splitlines()[-1])
                result["reviews_per_s"] = round(result["rows"] / result["seconds"])
                results.append(result)
                print(json.dumps(result), flush=True)
    single = next((r for r in results if r["engine"] == "single"), None)
    if single:
        print("\nreviews/s relative to the single-process path at the same size:")
        for result in results:
            if result["rows"] == single["rows"]:
                ratio = result["reviews_per_s"] / single["reviews_per_s"]
                print(f"  {result['engine']:>8} {result['rows']:>9,} rows: {ratio:.2f}x")
    print("local[2] seconds per 100k rows (linear cost: the same at every size):")
    for result in results:
        if result["engine"] == "local[2]":
            print(f"  {result['rows']:>9,} rows: {result['seconds'] / result['rows'] * 1e5:.1f}")


if __name__ == "__main__":
    with recorded("spark_batch"):
        main()
