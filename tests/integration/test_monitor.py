"""Monitoring with Evidently on the trained sample model: drift is flagged for disaster tweets
scored by the IMDB model, and not for held-out IMDB reviews."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pandas as pd
import pytest

from tests.conftest import SHARED_DATASETS
from textclf.batch import ScoringModel, run_batch
from textclf.monitor import descriptors, monitor_batch
from textclf.params import load_params

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model(reproduced_repo: Path) -> ScoringModel:
    return ScoringModel(joblib.load(reproduced_repo / "models/model.joblib"), "imdb", "1")


def score_and_monitor(model, repo: Path, frame: pd.DataFrame, tmp_path: Path) -> dict:
    incoming, scored = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    frame.to_parquet(incoming / "batch.parquet")
    run_batch(model, str(incoming), str(scored))
    verdict = monitor_batch(
        model,
        str(incoming / "batch.parquet"),
        str(scored / "batch.parquet.parquet"),
        load_params(repo / "params.yaml"),
        root=repo,
    )
    saved = json.loads((scored / "batch.parquet.monitor.json").read_text())
    assert saved["verdict"] == verdict.as_dict()
    assert (scored / "batch.parquet.monitor.html").stat().st_size > 10_000
    return verdict.as_dict()


def test_descriptors(model) -> None:
    frame = descriptors(["A great film!", "zzqx qqzx", ""], model.pipeline)
    assert frame["length"].tolist() == [13, 9, 0]
    assert frame.loc[0, "oov_share"] == 0.0 and frame.loc[1, "oov_share"] == 1.0
    assert frame.loc[0, "non_letter_share"] == pytest.approx(1 / 11)


def test_held_out_imdb_is_not_drift(model, reproduced_repo: Path, tmp_path: Path) -> None:
    test = pd.read_parquet(reproduced_repo / "data/prepared/test.parquet")
    verdict = score_and_monitor(model, reproduced_repo, test[["id", "text", "label"]], tmp_path)
    assert verdict["drift"] is False, verdict
    assert verdict["accuracy"] > 0.8  # labels present: quality is reported too


@pytest.mark.skipif(not SHARED_DATASETS.exists(), reason="needs ../shared/datasets")
def test_disaster_tweets_scored_by_the_imdb_model_is_drift(model, reproduced_repo, tmp_path):
    tweets = pd.read_csv(SHARED_DATASETS / "disaster-tweets/test.csv").head(1000)
    verdict = score_and_monitor(model, reproduced_repo, tweets[["id", "text"]], tmp_path)
    assert verdict["drift"] is True, verdict
    assert {"length", "oov_share"} <= set(verdict["drifted_columns"])
    assert verdict["accuracy"] is None  # unlabelled batch
