"""Benchmark batch scoring with the default model trained on the full IMDB train split.

1. The 50,000 unlabelled IMDB reviews: reviews/s through `run_batch` (read, score, write
   Parquet, manifest) against `predict_proba` on the same texts in memory.
2. A 1,000,000-row input (the unlabelled reviews repeated 20 times): peak memory of
   `textclf batch-predict` in its own process.

    uv run python bench/batch_scoring.py [--archive ...aclImdb_v1.tar.gz] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from textclf.core.params import Params, load_params
from textclf.ops.batch import run_batch
from textclf.ops.models import LoadedModel
from textclf.pipeline.ingest import read_aclimdb
from textclf.pipeline.prepare import prepare
from textclf.pipeline.train import train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--rows", type=int, default=1_000_000, help="0 skips the large input")
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    data = read_aclimdb(args.archive)
    splits = prepare(data.labelled, params.prepare)
    pipeline = train(splits.train, splits.validation, params).model
    unlabelled = data.unlabelled[["id", "text"]].reset_index(drop=True)
    texts = unlabelled["text"].tolist()

    started = time.perf_counter()
    pipeline.predict_proba(texts)
    direct = len(texts) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "in").mkdir()
        unlabelled.to_parquet(tmp_path / "in/unsup.parquet")
        started = time.perf_counter()
        model = LoadedModel(pipeline, "bench", "1", "bench")
        result = run_batch(
            model, str(tmp_path / "in"), str(tmp_path / "out"), params.batch, params.predict
        )
        batch = result.scored[0]["rows"] / (time.perf_counter() - started)
        print(f"unlabelled reviews: {len(texts):,}")
        print(f"predict_proba in memory: {direct:,.0f} reviews/s")
        print(f"run_batch (read, score, write, manifest): {batch:,.0f} reviews/s")
        print(f"ratio: {batch / direct:.3f}")
        if args.rows:
            large_input(unlabelled, pipeline, params, tmp_path, args.rows)


def large_input(
    unlabelled: pd.DataFrame, pipeline: Any, params: Params, tmp_path: Path, rows: int
) -> None:
    """Peak memory of `textclf batch-predict` on `rows` rows, in a process of its own."""
    big = tmp_path / "big"
    big.mkdir()
    repeats = -(-rows // len(unlabelled))
    with pq.ParquetWriter(big / "million.parquet", pa.Table.from_pandas(unlabelled).schema) as out:
        for i in range(repeats):
            chunk = unlabelled.assign(id=unlabelled["id"] + f"#{i}")
            out.write_table(pa.Table.from_pandas(chunk.head(rows - i * len(unlabelled))))
    size = (big / "million.parquet").stat().st_size / 1e6
    joblib.dump(pipeline, tmp_path / "model.joblib")
    command = [
        "/usr/bin/time",
        "-f",
        "%M %e",
        sys.executable,
        "-m",
        "textclf.cli",
        "batch-predict",
        "--input",
        str(big),
        "--output",
        str(tmp_path / "big-out"),
        "--model",
        str(tmp_path / "model.joblib"),
        "--params",
        str(REPO / "params.yaml"),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    peak_kib, seconds = finished.stderr.strip().splitlines()[-1].split()
    scored = pd.read_parquet(tmp_path / "big-out/million.parquet.parquet", columns=["id"])
    print(
        f"{len(scored):,}-row input ({size:.0f} MB Parquet): peak RSS "
        f"{int(peak_kib) / 1024:,.0f} MiB, {float(seconds):.0f} s "
        f"({len(scored) / float(seconds):,.0f} reviews/s, chunk_rows="
        f"{params.batch.chunk_rows})"
    )


if __name__ == "__main__":
    main()
