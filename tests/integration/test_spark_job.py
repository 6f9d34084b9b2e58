"""The Spark batch job on `local[2]`: the same scores as the single-machine path, the same
manifest (idempotent, changed inputs re-scored, bad files reported), and a killed job's re-run
that finishes with no duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT, SHARED_DATASETS, make
from textclf.batch import spark_job
from textclf.batch.job import MANIFEST, BatchJob, output_name
from textclf.batch.local import run_local
from textclf.core.params import BatchParams, PredictParams, PrepareParams, TrainParams
from textclf.core.tables import read_table
from textclf.ml.model import build_pipeline, word_vectors_for
from textclf.ml.persist import save_model

pytestmark = pytest.mark.integration
IMDB = SHARED_DATASETS / "imdb" / "aclImdb_v1.tar.gz"
SPARK_ENV = {"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
ANSWERS = make(PredictParams, min_confidence=0.6)


def imdb_reviews(per_folder: dict[str, int]) -> dict[str, list[str]]:
    """The first reviews of each aclImdb folder named (e.g. "test/pos"), in archive order."""
    found: dict[str, list[str]] = {folder: [] for folder in per_folder}
    with tarfile.open(IMDB) as archive:
        for member in archive:
            folder = member.name.removeprefix("aclImdb/").rsplit("/", 1)[0]
            if folder in found and len(found[folder]) < per_folder[folder]:
                found[folder].append(archive.extractfile(member).read().decode("utf-8"))
            if all(len(found[name]) == count for name, count in per_folder.items()):
                return found
    raise AssertionError(f"{IMDB} has fewer reviews than {per_folder}")


@pytest.fixture(scope="module")
def reviews() -> dict[str, list[str]]:
    if not IMDB.exists():
        pytest.skip("needs ../shared/datasets (the IMDB archive)")
    return imdb_reviews({"test/neg": 5000, "test/pos": 5000, "train/neg": 1000, "train/pos": 1000})


@pytest.fixture(scope="module")
def model(reviews, tmp_path_factory) -> spark_job.JobModel:
    """The repository's pipeline (its params), fitted on 2,000 training reviews."""
    texts = reviews["train/neg"] + reviews["train/pos"]
    labels = ["neg"] * 1000 + ["pos"] * 1000
    params = make(TrainParams)
    vectors = word_vectors_for(params, texts)
    pipeline = build_pipeline(params, make(PrepareParams), vectors).fit(texts, labels)
    path = tmp_path_factory.mktemp("model") / "model.skops"
    save_model(pipeline, path)
    return spark_job.JobModel(str(path), "textclf-test", "3")


@pytest.fixture(scope="module")
def spark():
    os.environ.update(SPARK_ENV)
    session = spark_job.spark_session("local[2]", make(BatchParams))
    # small input splits, so files span several partitions and row numbering crosses them
    session.conf.set("spark.sql.files.maxPartitionBytes", str(1 << 20))
    yield session
    session.stop()


def write_inputs(folder: Path, reviews: dict[str, list[str]]) -> dict[str, int]:
    """10,000 test reviews as Parquet (ids, several row groups), CSV (no ids; quotes, commas
    and newlines inside texts) and JSON lines; returns rows per file."""
    texts = reviews["test/neg"] + reviews["test/pos"]
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in rng.permutation(len(texts))]
    texts[1] = 'He said "it was fine",\nthen left.\r\nTwo lines, "quoted", and a comma.'
    folder.mkdir(parents=True)
    ids = [f"r{i}" for i in range(len(texts))]
    (folder / "day1").mkdir()
    pd.DataFrame({"id": ids[:6000], "text": texts[:6000]}).to_parquet(
        folder / "day1" / "reviews.parquet", row_group_size=1000
    )
    pd.DataFrame({"text": texts[6000:9000]}).to_csv(folder / "posts.csv", index=False)
    pd.DataFrame({"id": ids[9000:], "text": texts[9000:]}).to_json(
        folder / "tweets.jsonl", orient="records", lines=True
    )
    return {"day1/reviews.parquet": 6000, "posts.csv": 3000, "tweets.jsonl": 1000}


def test_spark_gives_the_single_machine_scores(spark, model, reviews, tmp_path) -> None:
    incoming = tmp_path / "incoming"
    rows = write_inputs(incoming, reviews)
    settings = make(BatchParams, chunk_rows=700)  # batches smaller than a partition
    loaded = model.load()
    single = run_local(BatchJob(loaded, str(incoming), str(tmp_path / "single"), settings, ANSWERS))
    assert not single.failed
    result = spark_job.run_spark_batch(
        spark,
        model,
        BatchJob(model.load(), str(incoming), str(tmp_path / "spark"), settings, ANSWERS, "run-1"),
    )
    assert not result.failed and len(result.scored) == 3
    for name, count in rows.items():
        expected = read_table(str(tmp_path / "single" / output_name(name)))
        folder = tmp_path / "spark" / output_name(name)
        assert folder.is_dir() and (folder / "_SUCCESS").exists()
        assert len(list(folder.glob("part-*.parquet"))) > 1  # written by several tasks
        got = read_table(str(folder))
        assert len(got) == count
        assert list(got.columns) == list(expected.columns)
        # same rows in the same order: ids (row numbers for the CSV) pair them
        assert got["id"].tolist() == expected["id"].tolist()
        assert got["predicted_label"].tolist() == expected["predicted_label"].tolist()
        probabilities = got.filter(like="proba_").to_numpy()
        assert np.abs(probabilities - expected.filter(like="proba_").to_numpy()).max() <= 1e-9
        assert set(got["model_version"]) == {"3"}
    assert (got["predicted_label"] == "uncertain").any()  # abstention, as on one machine
    manifest = json.loads((tmp_path / "spark" / MANIFEST).read_text())
    assert {entry["engine"] for entry in manifest["inputs"].values()} == {"spark"}
    assert {name: entry["rows"] for name, entry in manifest["inputs"].items()} == rows
    assert not (tmp_path / "spark" / spark_job.STAGING).exists()


def test_rerun_scores_only_new_or_changed_inputs(spark, model, tmp_path) -> None:
    incoming, scored = tmp_path / "incoming", tmp_path / "scored"
    incoming.mkdir()
    pd.DataFrame({"text": ["a great film", "awful"]}).to_csv(incoming / "a.csv", index=False)
    pd.DataFrame({"text": ["boring"]}).to_parquet(incoming / "b.parquet")
    settings = make(BatchParams)
    first = spark_job.run_spark_batch(
        spark, model, BatchJob(model.load(), str(incoming), str(scored), settings, ANSWERS, "run-1")
    )
    assert [item["input"] for item in first.scored] == ["a.csv", "b.parquet"]
    part_files = sorted((scored / "b.parquet").glob("part-*"))

    pd.DataFrame({"text": ["loved it", "hated it", "fine"]}).to_csv(incoming / "a.csv", index=False)
    second = spark_job.run_spark_batch(
        spark, model, BatchJob(model.load(), str(incoming), str(scored), settings, ANSWERS, "run-2")
    )
    assert [item["input"] for item in second.scored] == ["a.csv"]
    assert second.skipped == ["b.parquet"]
    assert read_table(str(scored / "a.parquet"))["id"].tolist() == [
        "a.csv:1",
        "a.csv:2",
        "a.csv:3",
    ]
    assert sorted((scored / "b.parquet").glob("part-*")) == part_files  # untouched


def test_a_bad_file_is_reported_and_the_others_scored(spark, model, tmp_path) -> None:
    incoming, scored = tmp_path / "incoming", tmp_path / "scored"
    incoming.mkdir()
    pd.DataFrame({"body": ["no text column"]}).to_csv(incoming / "wrong.csv", index=False)
    (incoming / "empty.jsonl").write_text("")
    pd.DataFrame({"text": ["fine film"]}).to_parquet(incoming / "good.parquet")
    pd.DataFrame({"text": ["named like a pattern"]}).to_csv(incoming / "day[1].csv", index=False)
    result = spark_job.run_spark_batch(
        spark,
        model,
        BatchJob(model.load(), str(incoming), str(scored), make(BatchParams), ANSWERS, "run-1"),
    )
    assert [item["input"] for item in result.scored] == ["good.parquet"]
    errors = {item["input"]: item["error"] for item in result.failed}
    assert "no 'text' column (columns: body)" in errors["wrong.csv"]
    assert "set batch.text_column" in errors["wrong.csv"]
    assert "empty.jsonl" in errors
    assert "glob characters" in errors["day[1].csv"]
    assert "batch.engine: local" in errors["day[1].csv"]
    manifest = json.loads((scored / MANIFEST).read_text())
    assert list(manifest["inputs"]) == ["good.parquet"]
    assert not (scored / "wrong.parquet").exists()


def job_command(model: spark_job.JobModel, incoming: Path, scored: Path, run_id: str) -> list:
    settings = spark_job.settings_json(make(BatchParams, chunk_rows=500), ANSWERS)
    return [
        sys.executable,
        str(REPO_ROOT / "src" / "textclf" / "batch" / "spark_job.py"),  # as spark-submit runs it
        *("--input", str(incoming), "--output", str(scored), "--model", model.path),
        *("--model-name", model.name, "--model-version", model.version),
        *("--settings", settings, "--run-id", run_id, "--master", "local[2]"),
        *("--result", str(scored.parent / f"{run_id}.json")),
    ]


def test_a_killed_job_is_finished_by_the_next_run_without_duplicates(
    model, reviews, tmp_path
) -> None:
    incoming, scored = tmp_path / "incoming", tmp_path / "scored"
    incoming.mkdir()
    texts = reviews["test/neg"][:4000]
    for part in range(4):
        chunk = texts[part * 1000 : (part + 1) * 1000]
        pd.DataFrame({"text": chunk}).to_parquet(incoming / f"part{part}.parquet")
    env = {**os.environ, **SPARK_ENV}
    job = subprocess.Popen(
        job_command(model, incoming, scored, "killed"), env=env, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while not (scored / MANIFEST).exists():
        assert job.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, "the job scored nothing in 180 s"
        time.sleep(0.2)
    os.killpg(job.pid, signal.SIGKILL)  # the driver, its JVM and the Python workers
    job.wait()
    done = json.loads((scored / MANIFEST).read_text())["inputs"]
    assert 1 <= len(done) < 4, "the kill came after the last file; make the inputs bigger"

    rerun = subprocess.run(
        job_command(model, incoming, scored, "rerun"), env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    result = json.loads((tmp_path / "rerun.json").read_text())
    assert sorted(result["skipped"]) == sorted(done)
    rescored = sorted(item["input"] for item in result["scored"])
    assert sorted([*done, *rescored]) == [f"part{part}.parquet" for part in range(4)]
    manifest = json.loads((scored / MANIFEST).read_text())["inputs"]
    assert len(manifest) == 4
    for name in manifest:
        out = read_table(str(scored / output_name(name)))
        assert len(out) == 1000 and out["id"].is_unique
    assert not (scored / spark_job.STAGING).exists()


def test_job_settings_round_trip_and_are_checked() -> None:
    settings = replace(make(BatchParams), chunk_rows=123)
    assert spark_job.job_settings(json.loads(spark_job.settings_json(settings, ANSWERS))) == (
        settings,
        ANSWERS,
    )
    broken = json.loads(spark_job.settings_json(settings, ANSWERS))
    broken["batch"]["chunk_rows"] = 0
    with pytest.raises(Exception, match=r"batch.chunk_rows"):
        spark_job.job_settings(broken)
