"""Batch scoring on local folders: idempotent, atomic, bounded, and tolerant of bad files."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import NEGATIVE, POSITIVE, make
from textclf.batch import job, local
from textclf.batch.job import MANIFEST, BatchJob
from textclf.batch.local import run_local
from textclf.core.params import BatchParams, PredictParams, PrepareParams, TrainParams
from textclf.ml.model import build_pipeline
from textclf.ml.persist import LoadedModel
from textclf.ml.scoring import score_texts
from textclf.ml.workers import score_all


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    params = make(
        TrainParams,
        word_vectors=None,
        vectorizer={"kind": "tfidf"},
        classifier={"kind": "logreg", "C": 10.0},
    )
    pipeline = build_pipeline(params, make(PrepareParams)).fit(
        POSITIVE * 3 + NEGATIVE * 3, ["pos"] * 12 + ["neg"] * 12
    )
    return LoadedModel(pipeline, "test-model", "7", "models:/test-model/7")


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    incoming, scored = tmp_path / "incoming", tmp_path / "scored"
    (incoming / "day1").mkdir(parents=True)
    pd.DataFrame({"id": ["a", "b"], "text": ["a great film", "awful, boring"]}).to_parquet(
        incoming / "day1" / "reviews.parquet"
    )
    pd.DataFrame({"text": ["wonderful", "terrible", "great acting"]}).to_csv(
        incoming / "more.csv", index=False
    )
    (incoming / "tweets.jsonl").write_text('{"id": 1, "text": "loved it"}\n')
    (incoming / "notes.txt").write_text("not a batch input")
    return incoming, scored


ANSWER_ALL = make(PredictParams, min_confidence=0.0)


def run(
    model: LoadedModel,
    folders: tuple[Path, Path],
    chunk_rows: int = 5000,
    answers: PredictParams = ANSWER_ALL,
):
    incoming, scored = folders
    settings = make(BatchParams, chunk_rows=chunk_rows, workers=1)
    return run_local(BatchJob(model, str(incoming), str(scored), settings, answers))


def test_scores_every_input_with_probabilities_and_model_version(model, folders) -> None:
    result = run(model, folders)
    assert sorted(item["input"] for item in result.scored) == [
        "day1/reviews.parquet",
        "more.csv",
        "tweets.jsonl",
    ]
    out = pd.read_parquet(folders[1] / "day1/reviews.parquet")
    assert out["id"].tolist() == ["a", "b"]
    assert out["predicted_label"].tolist() == ["pos", "neg"]
    np.testing.assert_allclose(out["proba_neg"] + out["proba_pos"], 1.0)
    assert set(out["model_version"]) == {"7"} and set(out["model_name"]) == {"test-model"}
    assert "scored_at" in out
    no_ids = pd.read_parquet(folders[1] / "more.parquet")
    assert no_ids["id"].tolist() == ["more.csv:1", "more.csv:2", "more.csv:3"]


def test_rerun_scores_nothing_twice_and_rescores_a_changed_input(model, folders) -> None:
    run(model, folders)
    manifest = json.loads((folders[1] / MANIFEST).read_text())
    assert set(manifest["inputs"]) == {"day1/reviews.parquet", "more.csv", "tweets.jsonl"}
    again = run(model, folders)
    assert again.scored == [] and len(again.skipped) == 3
    pd.DataFrame({"text": ["changed"]}).to_csv(folders[0] / "more.csv", index=False)
    changed = run(model, folders)
    assert [item["input"] for item in changed.scored] == ["more.csv"]
    assert len(pd.read_parquet(folders[1] / "more.parquet")) == 1


def test_bad_files_are_reported_and_the_others_scored(model, folders) -> None:
    incoming, scored = folders
    (incoming / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    pd.DataFrame({"body": ["no text column"]}).to_csv(incoming / "schemaless.csv", index=False)
    result = run(model, folders)
    failed = {item["input"]: item["error"] for item in result.failed}
    assert set(failed) == {"corrupt.parquet", "schemaless.csv"}
    assert "corrupt.parquet: cannot be read as parquet" in failed["corrupt.parquet"]
    assert "no 'text' column (columns: body)" in failed["schemaless.csv"]
    assert len(result.scored) == 3
    assert not (scored / "corrupt.parquet").exists()
    manifest = json.loads((scored / MANIFEST).read_text())
    assert "corrupt.parquet" not in manifest["inputs"]  # retried on the next run


def test_chunks_bound_memory_and_keep_every_row(model, tmp_path: Path) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    texts = (POSITIVE + NEGATIVE) * 125  # 1,000 rows
    pd.DataFrame({"id": range(1000), "text": texts}).to_parquet(incoming / "big.parquet")
    result = run_local(
        BatchJob(
            model,
            str(incoming),
            str(tmp_path / "out"),
            make(BatchParams, chunk_rows=64, workers=1),
            ANSWER_ALL,
        )
    )
    out = pd.read_parquet(tmp_path / "out/big.parquet")
    assert result.scored[0]["rows"] == 1000
    assert out["id"].tolist() == [str(i) for i in range(1000)]


class DiesOnSecondChunk:
    """A pipeline whose process 'is killed' part-way through a file."""

    def __init__(self, pipeline) -> None:
        self.pipeline, self.calls, self.classes_ = pipeline, 0, pipeline.classes_

    def predict_proba(self, texts):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt("worker killed")
        return self.pipeline.predict_proba(texts)


def test_killed_mid_file_leaves_no_partial_output_then_rerun_completes(model, tmp_path) -> None:
    incoming, out = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    pd.DataFrame({"text": (POSITIVE + NEGATIVE) * 10}).to_parquet(incoming / "x.parquet")
    dying = LoadedModel(DiesOnSecondChunk(model.pipeline), "m", "1", "models:/m/1")
    with pytest.raises(KeyboardInterrupt):
        run_local(
            BatchJob(
                dying,
                str(incoming),
                str(out),
                make(BatchParams, chunk_rows=20, workers=1),
                ANSWER_ALL,
            )
        )
    assert not out.exists() or list(out.iterdir()) == []
    result = run_local(
        BatchJob(
            model, str(incoming), str(out), make(BatchParams, chunk_rows=20, workers=1), ANSWER_ALL
        )
    )
    assert result.scored[0]["rows"] == 80
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "x.parquet"]
    assert len(pd.read_parquet(out / "x.parquet")) == 80


def test_output_is_the_same_bytes_whatever_the_number_of_workers(
    model, tmp_path: Path, monkeypatch
) -> None:
    for module in (local, job):  # the output's time column and the manifest's
        monkeypatch.setattr(module, "now", lambda: "2026-11-30T00:00:00+00:00")
    incoming = tmp_path / "in"
    incoming.mkdir()
    texts = (POSITIVE + NEGATIVE) * 125  # 1,000 rows: 16 chunks of 64
    pd.DataFrame({"text": texts}).to_csv(incoming / "reviews.csv", index=False)
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        settings = make(BatchParams, chunk_rows=64, workers=workers)
        result = run_local(BatchJob(model, str(incoming), str(out), settings, ANSWER_ALL))
        assert result.scored[0]["rows"] == 1000
        manifest = (out / MANIFEST).read_text().replace(str(out), "<out>")
        outputs[workers] = ((out / "reviews.parquet").read_bytes(), manifest)
    assert outputs[1] == outputs[2]


class KillsItsWorker:
    """A pipeline whose worker process is killed (as the kernel's OOM killer would) on the
    text 'KILL'."""

    def __init__(self, pipeline, parent: int) -> None:
        self.pipeline, self.parent, self.classes_ = pipeline, parent, pipeline.classes_

    def predict_proba(self, texts):
        if "KILL" in texts and os.getpid() != self.parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.pipeline.predict_proba(texts)


def test_a_killed_worker_fails_the_file_and_leaves_nothing_behind(model, tmp_path) -> None:
    incoming, out = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    texts = (POSITIVE + NEGATIVE) * 20
    texts[::20] = ["KILL"] * 8  # one in each chunk: some chunks are scored by this process
    pd.DataFrame({"text": texts}).to_parquet(incoming / "x.parquet")
    killer = LoadedModel(KillsItsWorker(model.pipeline, os.getpid()), "m", "1", "models:/m/1")
    settings = make(BatchParams, chunk_rows=20, workers=2)
    with pytest.raises(RuntimeError, match="worker process died"):
        run_local(BatchJob(killer, str(incoming), str(out), settings, ANSWER_ALL))
    assert not out.exists() or list(out.iterdir()) == []
    result = run_local(BatchJob(model, str(incoming), str(out), settings, ANSWER_ALL))
    assert result.scored[0]["rows"] == 160


def test_score_all_on_workers_equals_one_call(model) -> None:
    texts = (POSITIVE + NEGATIVE) * 50
    whole = score_texts(model.pipeline, texts, 0.6)
    chunked = score_all(model.pipeline, texts, 0.6, workers=2, chunk_rows=30)
    assert np.array_equal(whole.proba, chunked.proba)
    assert list(whole.answers) == list(chunked.answers)


def test_missing_input_location(model, tmp_path: Path) -> None:
    from textclf.core.errors import DataError

    with pytest.raises(DataError, match="does not exist"):
        run_local(
            BatchJob(
                model, str(tmp_path / "nope"), str(tmp_path / "out"), make(BatchParams), ANSWER_ALL
            )
        )


def test_rows_under_min_confidence_are_uncertain_with_probabilities_kept(model, folders) -> None:
    everything = run(model, folders)
    answered = pd.read_parquet(folders[1] / "more.parquet")
    threshold = float(answered["confidence"].median())
    assert 0.5 < threshold < answered["confidence"].max()
    abstaining = make(PredictParams, min_confidence=threshold)
    run(model, (folders[0], folders[1].with_name("abstaining")), answers=abstaining)
    out = pd.read_parquet(folders[1].with_name("abstaining") / "more.parquet")
    low = out["confidence"] < threshold
    assert low.any() and (~low).any()
    assert (out.loc[low, "predicted_label"] == "uncertain").all()
    assert (
        out.loc[~low, "predicted_label"].tolist() == answered.loc[~low, "predicted_label"].tolist()
    )
    # the probabilities are the model's, abstaining or not
    pd.testing.assert_frame_equal(out.filter(like="proba_"), answered.filter(like="proba_"))
    assert len(everything.scored) == 3


def test_read_head_returns_the_first_rows_only(tmp_path: Path) -> None:
    from textclf.core.tables import read_head

    pd.DataFrame({"text": [str(i) for i in range(1000)]}).to_parquet(
        tmp_path / "x.parquet", row_group_size=100
    )
    head = read_head(str(tmp_path / "x.parquet"), 250)
    assert head["text"].tolist() == [str(i) for i in range(250)]
    assert len(read_head(str(tmp_path / "x.parquet"), 5000)) == 1000


def test_no_champion_is_named_not_a_registry_traceback(tmp_path: Path, monkeypatch) -> None:
    from textclf.core.errors import DataError
    from textclf.registry.models import load_model

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(DataError, match="textclf register"):
        load_model("models:/never-registered@champion")


def test_a_dead_helper_is_reported_when_the_next_chunk_is_handed_out(model) -> None:
    """The pool may break between two chunks: handing out the next one fails with the same
    clear error as reading a lost answer."""
    from concurrent.futures.process import BrokenProcessPool

    from textclf.ml import workers

    with workers._pool(model.pipeline, helpers=1, threads=1) as pool:
        helper = pool.submit(os.getpid).result(timeout=60)
        os.kill(helper, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):  # at submit or at result: the pool is broken
            pool.submit(os.getpid).result(timeout=60)
        with pytest.raises(RuntimeError, match="worker process died"):
            workers._submit(pool, ["a text"], 0.0)


def test_two_inputs_with_one_stem_are_not_written_over_each_other(model, tmp_path) -> None:
    incoming, out = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    pd.DataFrame({"text": ["a great film"]}).to_csv(incoming / "day.csv", index=False)
    pd.DataFrame({"text": ["awful"]}).to_json(incoming / "day.jsonl", orient="records", lines=True)
    result = run_local(BatchJob(model, str(incoming), str(out), make(BatchParams), ANSWER_ALL))
    assert [item["input"] for item in result.scored] == ["day.csv"]
    (failed,) = result.failed
    assert failed["input"] == "day.jsonl"
    assert "its output day.parquet is also day.csv's" in failed["error"]
    assert len(pd.read_parquet(out / "day.parquet")) == 1


def test_empty_texts_are_counted_in_the_manifest_and_the_result(model, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    pd.DataFrame({"id": [1, 2, 3, 4], "text": ["a great film", None, "  ", ""]}).to_parquet(
        incoming / "gaps.parquet"
    )
    result = run(model, (incoming, tmp_path / "scored"))
    assert result.scored[0]["rows"] == 4 and result.scored[0]["empty_texts"] == 3
    manifest = json.loads((tmp_path / "scored" / MANIFEST).read_text())
    assert manifest["inputs"]["gaps.parquet"]["empty_texts"] == 3


def test_an_output_that_is_a_file_is_one_error_before_any_scoring(model, folders) -> None:
    from textclf.batch.engines import score_batch
    from textclf.core.errors import DataError

    incoming, scored = folders
    scored.write_text("a file where the output folder should be")
    settings = make(BatchParams, workers=1)
    with pytest.raises(DataError, match="is a file, but batch output is a folder"):
        score_batch(BatchJob(model, str(incoming), str(scored), settings, ANSWER_ALL))
    assert scored.read_text() == "a file where the output folder should be"
