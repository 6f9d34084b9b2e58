"""Benchmark batch scoring with the default model trained on the full IMDB train split.

1. The 50,000 unlabelled IMDB reviews, scored the way the project did before the Rust-counting
   vectoriser (`predict_proba` in one process, scikit-learn's CountVectorizer with the same
   vocabulary, the normaliser without its shortcuts), then through `run_batch` (read, score,
   write Parquet, manifest) with the model as trained today on 1 and 2 workers. Ratios are
   against the first; the outputs of 1 and 2 workers are compared byte for byte and their
   probabilities with the reference's.
2. A 1,000,000-row input: `textclf batch-predict` in its own process (batch.workers: every
   core: the CLI process and one helper here), its seconds and the peak memory of its whole
   process tree.

    uv run python bench/batch_scoring.py [--archive ...aclImdb_v1.tar.gz] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from peak_memory import PeakMemory
from results import recorded  # bench/results.py, beside this script
from textclf.batch import job, local
from textclf.batch.job import BatchJob
from textclf.core.params import Params
from textclf.ml.params import load_params
from textclf.ml.persist import LoadedModel, save_model
from textclf.ml.text import as_texts, normalize
from textclf.ml.word_vectors import NgramsAndWordVectors
from textclf.pipeline.ingest import read_aclimdb
from textclf.pipeline.prepare import prepare
from textclf.pipeline.train import train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"


def as_before(pipeline: Pipeline) -> Pipeline:
    """The same fitted pipeline as the project scored before this work: scikit-learn's own
    vectoriser class (the Rust-counting ones are subclasses whose extra state, the vocabulary
    index, scikit-learn ignores) and the normaliser without its shortcuts."""
    fast = pipeline.named_steps["vectorize"]
    if isinstance(fast, NgramsAndWordVectors):  # the same word vectors after the n-grams
        reference = copy.copy(fast)
        reference.ngrams_ = scikit_learn_counting(fast.ngrams_)
    else:
        reference = scikit_learn_counting(fast)
    options = pipeline.named_steps["normalize"].options
    normalizer = FunctionTransformer(
        lambda data: [normalize(text, options, shortcuts=False) for text in as_texts(data)]
    )
    replaced = {"vectorize": reference, "normalize": normalizer}
    return Pipeline([(name, replaced.get(name, step)) for name, step in pipeline.steps])


def scikit_learn_counting(fast: Any) -> Any:
    reference = copy.copy(fast)
    reference.__class__ = next(
        cls for cls in type(fast).__mro__[1:] if cls.__module__.startswith("sklearn.")
    )
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--rows", type=int, default=1_000_000, help="0 skips the large input")
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    data = read_aclimdb(args.archive)
    splits = prepare(data.labelled, params.prepare)
    unlabelled = data.unlabelled[["id", "text"]].reset_index(drop=True)
    pipeline = train(splits.train, splits.validation, params, unlabelled["text"].tolist()).model
    texts = unlabelled["text"].tolist()
    print(f"unlabelled reviews: {len(texts):,}; cores: {len(os.sched_getaffinity(0))}")

    started = time.perf_counter()
    reference = as_before(pipeline).predict_proba(texts)
    before = len(texts) / (time.perf_counter() - started)
    print(
        f"before (scikit-learn counting, normaliser without shortcuts, predict_proba, one "
        f"process): {before:,.0f} reviews/s"
    )

    local.now = job.now = lambda: "2026-01-01T00:00:00+00:00"  # one timestamp: outputs comparable
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "in").mkdir()
        unlabelled.to_parquet(tmp_path / "in/unsup.parquet")
        model = LoadedModel(pipeline, "bench", "1", "bench")
        outputs = {}
        for workers in (1, 2):
            out = tmp_path / f"out-{workers}"
            settings = dataclasses.replace(params.batch, workers=workers)
            started = time.perf_counter()
            local.run_local(
                BatchJob(model, str(tmp_path / "in"), str(out), settings, params.predict)
            )
            rate = len(texts) / (time.perf_counter() - started)
            outputs[workers] = (out / "unsup.parquet").read_bytes()
            print(
                f"run_batch, {workers} worker{'s' * (workers > 1)} (read, score, write, "
                f"manifest): {rate:,.0f} reviews/s = {rate / before:.2f}x before"
            )
        scored = pd.read_parquet(tmp_path / "out-2/unsup.parquet")
        columns = [f"proba_{label}" for label in pipeline.classes_]
        difference = np.abs(scored[columns].to_numpy() - reference).max()
        print(
            f"1 and 2 workers: same bytes: {outputs[1] == outputs[2]}; largest probability "
            f"difference from scikit-learn counting: {difference:.1e}"
        )
        if args.rows:
            large_input(unlabelled, pipeline, params, tmp_path, args.rows)


def large_input(
    unlabelled: pd.DataFrame, pipeline: Any, params: Params, tmp_path: Path, rows: int
) -> None:
    """Seconds and peak memory of `textclf batch-predict` on `rows` rows, in its own process."""
    big = tmp_path / "big"
    big.mkdir()
    repeats = -(-rows // len(unlabelled))
    with pq.ParquetWriter(big / "million.parquet", pa.Table.from_pandas(unlabelled).schema) as out:
        for i in range(repeats):
            chunk = unlabelled.assign(id=unlabelled["id"] + f"#{i}")
            out.write_table(pa.Table.from_pandas(chunk.head(rows - i * len(unlabelled))))
    size = (big / "million.parquet").stat().st_size / 1e6
    save_model(pipeline, tmp_path / "model.skops")
    command = [
        sys.executable, "-m", "textclf.cli", "batch-predict",
        "--input", str(big), "--output", str(tmp_path / "big-out"),
        "--model", str(tmp_path / "model.skops"), "--params", str(REPO / "params.yaml"),
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    memory = PeakMemory(process.pid)
    _, errors = process.communicate()
    seconds = time.perf_counter() - started
    peaks = memory.stop()
    if process.returncode != 0:
        sys.exit(f"batch-predict failed:\n{errors.decode()}")
    scored = pd.read_parquet(tmp_path / "big-out/million.parquet", columns=["id"])
    print(
        f"{len(scored):,}-row input ({size:.0f} MB Parquet): {seconds:.0f} s "
        f"({len(scored) / seconds:,.0f} reviews/s); peak memory: whole tree "
        f"{peaks['peak_mib_tree']:,} MiB, the CLI process {peaks['peak_mib_root']:,} MiB "
        f"(chunk_rows={params.batch.chunk_rows}, workers={params.batch.workers or 'all'})"
    )


if __name__ == "__main__":
    with recorded("batch_scoring"):
        main()
