"""Monitoring with Evidently on the trained sample model: drift is flagged for batches that differ
from the training data (made here from the sample, and disaster tweets when ../shared is there),
and not for other reviews of the same source (the sample's unlabelled reviews, never trained on)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT, SHARED_DATASETS
from textclf.batch.job import BatchJob
from textclf.batch.local import run_local
from textclf.ml.params import load_params
from textclf.ml.persist import LoadedModel
from textclf.monitor.drift import descriptors, monitor_batch
from textclf.registry.models import load_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model(reproduced_repo: Path) -> LoadedModel:
    return load_model(reproduced_repo / "models/model.skops")


def score_and_monitor(model, repo: Path, frame: pd.DataFrame, tmp_path: Path) -> dict:
    incoming, scored = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    frame.to_parquet(incoming / "batch.parquet")
    params = load_params(repo / "params.yaml")
    run_local(BatchJob(model, str(incoming), str(scored), params.batch, params.predict))
    verdict = monitor_batch(
        model,
        str(incoming / "batch.parquet"),
        str(scored / "batch.parquet"),
        params,
        repo / "data/prepared/test.parquet",
    )
    saved = json.loads((scored / "batch.monitor.json").read_text())
    assert saved["verdict"] == verdict.as_dict()
    assert (scored / "batch.monitor.html").stat().st_size > 10_000
    return verdict.as_dict()


def test_descriptors(model) -> None:
    options = load_params(REPO_ROOT / "params.yaml").prepare.normalize
    frame = descriptors(["A great film!", "zzqx qqzx", ""], model.pipeline, options)
    assert frame["length"].tolist() == [13, 9, 0]
    assert frame.loc[0, "oov_share"] == 0.0 and frame.loc[1, "oov_share"] == 1.0
    assert frame.loc[0, "non_letter_share"] == pytest.approx(1 / 11)


def test_other_reviews_of_the_same_source_are_not_drift(model, reproduced_repo, tmp_path) -> None:
    """The sample's 500 unlabelled reviews: drawn from the same IMDB reviews as the reference (the
    test split), but none of them is in it, so nothing can match by construction."""
    other = pd.read_parquet(reproduced_repo / "data/interim/unlabelled.parquet")
    reference = pd.read_parquet(reproduced_repo / "data/prepared/test.parquet")
    assert not set(other["text"]) & set(reference["text"])
    verdict = score_and_monitor(model, reproduced_repo, other[["id", "text"]], tmp_path)
    assert verdict["drift"] is False, verdict
    assert verdict["rows"] == len(other)


def test_short_noisy_posts_are_drift_and_labels_give_quality(model, reproduced_repo, tmp_path):
    """Posts made from the reviews' first words plus hashtags, numbers and unseen words: shorter,
    more non-letters, more unknown words. Labels come along, so quality is reported too."""
    test = pd.read_parquet(reproduced_repo / "data/prepared/test.parquet").head(400)
    posts = [
        " ".join(text.split()[:6]) + f" #qzx{i} 20{i % 100:02d} @{i} zvrk{i}!!"
        for i, text in enumerate(test["text"])
    ]
    batch = pd.DataFrame({"id": test["id"], "text": posts, "label": test["label"]})
    verdict = score_and_monitor(model, reproduced_repo, batch, tmp_path)
    assert verdict["drift"] is True, verdict
    assert {"length", "oov_share", "non_letter_share"} <= set(verdict["drifted_columns"])
    assert 0 <= verdict["accuracy"] <= 1


@pytest.mark.skipif(not SHARED_DATASETS.exists(), reason="needs ../shared/datasets")
def test_disaster_tweets_scored_by_the_imdb_model_is_drift(model, reproduced_repo, tmp_path):
    tweets = pd.read_csv(SHARED_DATASETS / "disaster-tweets/test.csv").head(1000)
    verdict = score_and_monitor(model, reproduced_repo, tweets[["id", "text"]], tmp_path)
    assert verdict["drift"] is True, verdict
    assert {"length", "oov_share"} <= set(verdict["drifted_columns"])
    assert verdict["accuracy"] is None  # unlabelled batch
