"""The promotion rule against a real MLflow server that stops part-way: a failed champion lookup
stops the promotion; it is never read as "no champion yet"."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.conftest import copy_repo, sh
from textclf.core.errors import ServiceUnavailable
from textclf.core.layout import Layout
from textclf.infra import stack
from textclf.ml.params import load_params
from textclf.registry import promotion as registry
from textclf.registry.models import load_model, log_pipeline
from textclf.registry.promotion import promote_challenger as run_promote

pytestmark = pytest.mark.integration
NAME = "textclf-outage"


@pytest.fixture
def servers(tmp_path: Path):
    """S3 and an MLflow server started separately, so the MLflow server can stop alone."""
    s3 = stack.StackConfig(state_dir=tmp_path / "s3", s3_port=free_port(), services=("s3",))
    tracking = replace(
        s3, state_dir=tmp_path / "mlflow", mlflow_port=free_port(), services=("mlflow",)
    )
    stack.up(s3, root=s3.state_dir)
    stack.up(tracking, root=tracking.state_dir)
    yield s3, tracking
    stack.down(tracking, root=tracking.state_dir)
    stack.down(s3, root=s3.state_dir)


def test_promotion_stops_when_the_champion_lookup_fails(
    reproduced_repo: Path, servers, tmp_path: Path, monkeypatch
) -> None:
    _, tracking = servers
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    env = stack.settings(tracking)
    sh("dvc", "repro", "--force", "--single-item", "track", cwd=repo, env=env)
    first = json.loads(sh("textclf", "register", "--name", NAME, cwd=repo, env=env))
    sh("textclf", "promote", "--name", NAME, cwd=repo, env=env)  # v1: the first champion
    second = json.loads(sh("textclf", "register", "--name", NAME, cwd=repo, env=env))
    assert (first["version"], second["version"]) == ("1", "2")

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    looked_up = []
    real_lookup = registry.version_by_alias

    def server_dies_after_the_challenger_lookup(name: str, alias: str):
        looked_up.append(alias)
        if alias == registry.CHAMPION:
            stack.down(tracking, root=tracking.state_dir)
        return real_lookup(name, alias)

    monkeypatch.setattr(registry, "version_by_alias", server_dies_after_the_challenger_lookup)
    params = load_params(repo / "params.yaml")
    with pytest.raises(ServiceUnavailable, match="MLflow did not answer"):
        run_promote(params, Layout(repo), NAME)
    assert looked_up == [registry.CHALLENGER, registry.CHAMPION]

    stack.up(tracking, root=tracking.state_dir)  # the same store: the registry is still there
    monkeypatch.setattr(registry, "version_by_alias", real_lookup)
    import mlflow

    client = mlflow.MlflowClient(tracking.mlflow_url)
    assert client.get_model_version_by_alias(NAME, "champion").version == "1"
    assert "promotion.decision" not in client.get_model_version(NAME, "2").tags

    decision = run_promote(params, Layout(repo), NAME)  # with the server back, it compares
    assert decision["champion_version"] == "1" and decision["challenger_version"] == "2"
    assert "no champion yet" not in decision["reason"]


def test_a_challenger_that_fails_the_behaviour_tests_is_never_promoted(
    reproduced_repo: Path, servers, tmp_path: Path, monkeypatch
) -> None:
    """Labels swapped, the metric margin waived (min_improvement -1): the behaviour gate refuses
    it on the real registry before any comparison."""
    import mlflow

    from textclf.ml.persist import load_model_file

    _, tracking = servers
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    env = stack.settings(tracking)
    sh("dvc", "repro", "--force", "--single-item", "track", cwd=repo, env=env)
    sh("textclf", "register", "--name", NAME, cwd=repo, env=env)
    sh("textclf", "promote", "--name", NAME, cwd=repo, env=env)  # v1: the first champion
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    broken = load_model_file(repo / "models/model.skops").pipeline
    classify = broken.named_steps["classify"]
    classify.classes_ = classify.classes_[::-1]  # every answer is now the other label
    mlflow.set_tracking_uri(tracking.mlflow_url)
    with mlflow.start_run() as run:
        log_pipeline(broken, ["a probe"], {})
    commit = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    record = {"run_id": run.info.run_id, "model_uri": f"runs:/{run.info.run_id}/model"}
    assert (
        registry.register(record, NAME, {"git_commit": commit}, check=load_model)["version"] == "2"
    )

    params = load_params(repo / "params.yaml")
    lenient = replace(params, registry=replace(params.registry, min_improvement=-1.0))
    decision = run_promote(lenient, Layout(repo), NAME)
    assert decision["promoted"] is False
    assert decision["reason"].startswith("not promoted: behaviour tests failed: short positive")
    client = mlflow.MlflowClient(tracking.mlflow_url)
    assert client.get_model_version_by_alias(NAME, "champion").version == "1"
    tags = client.get_model_version(NAME, "2").tags
    assert tags["promotion.decision"] == "False"
    assert tags["promotion.reason"] == decision["reason"]
    assert "negation raises negative (100.0% > 50.0%)" in decision["reason"]
