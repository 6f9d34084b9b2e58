"""DVC remote in S3, tracking in a real MLflow server and the model registry, against the local
stack (moto S3, MLflow server, Prefect server) started on free loopback ports."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import free_port
from tests.integration.conftest import copy_repo, read_json, sh
from textclf.core.errors import SetupError
from textclf.infra import stack
from textclf.ml.persist import load_model_file

pytestmark = pytest.mark.integration
DVC_OUTPUTS = ["data/interim", "data/prepared", "models"]


def output_hashes(repo: Path) -> dict[str, str]:
    from textclf.core.files import file_digest

    return {
        str(path.relative_to(repo)): file_digest(path)
        for folder in DVC_OUTPUTS
        for path in sorted((repo / folder).rglob("*"))
        if path.is_file() and path.name != ".gitignore"  # .gitignore files belong to git
    }


@pytest.fixture(scope="module")
def remote_repo(reproduced_repo: Path, local_stack, tmp_path_factory) -> Path:
    repo = copy_repo(reproduced_repo, tmp_path_factory.mktemp("remote") / "repo")
    stack.write_settings(local_stack, repo)
    return repo


def test_stack_is_healthy_has_buckets_and_writes_settings(local_stack) -> None:
    for url in (f"{local_stack.mlflow_url}/health", f"{local_stack.prefect_api_url}/health"):
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
    names = {b["Name"] for b in stack.aws_client(local_stack).list_buckets()["Buckets"]}
    assert set(local_stack.buckets) <= names
    env = dict(line.split("=", 1) for line in local_stack.env_file.read_text().splitlines())
    assert env["MLFLOW_TRACKING_URI"] == local_stack.mlflow_url
    assert env["PREFECT_API_URL"] == local_stack.prefect_api_url
    assert env["AWS_ENDPOINT_URL_S3"] == local_stack.s3_url
    assert stack.status(local_stack) == {"s3": True, "mlflow": True, "prefect": True}


def test_stack_refuses_to_start_twice(local_stack) -> None:
    with pytest.raises(SetupError, match="already running"):
        stack.up(local_stack)


def test_stack_refuses_a_taken_port(local_stack, tmp_path: Path) -> None:
    config = stack.StackConfig(state_dir=tmp_path, s3_port=local_stack.mlflow_port)
    with pytest.raises(SetupError, match="port is taken"):
        stack.up(config, root=tmp_path)
    assert not config.pid_file.exists()


def test_dvc_push_wipe_pull_restores_identical_outputs(remote_repo: Path, local_stack) -> None:
    before = output_hashes(remote_repo)
    assert len(before) >= 4
    sh("dvc", "push", cwd=remote_repo)
    objects = stack.aws_client(local_stack).list_objects_v2(Bucket=local_stack.dvc_bucket)
    assert objects["KeyCount"] >= len(before)
    assert "Everything is up to date" in sh("dvc", "push", cwd=remote_repo)
    shutil.rmtree(remote_repo / ".dvc/cache")
    for name in before:
        (remote_repo / name).unlink()
    sh("dvc", "pull", cwd=remote_repo)
    assert output_hashes(remote_repo) == before
    # every stage up to date; track re-checks the tracking store on each repro by design
    assert sh("dvc", "status", cwd=remote_repo) == "track:\n\talways changed\n"


def track_and_register(repo: Path, config: stack.StackConfig) -> dict:
    env = stack.settings(config)
    sh("dvc", "repro", "--force", "--single-item", "track", cwd=repo, env=env)
    return json.loads(sh("textclf", "register", cwd=repo, env=env))


def promote(repo: Path, config: stack.StackConfig) -> dict:
    return json.loads(sh("textclf", "promote", cwd=repo, env=stack.settings(config)))


def retrain(
    repo: Path, config: stack.StackConfig, behaviour: dict | None = None, **vectorizer: object
) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["vectorizer"].update(vectorizer)
    params["behaviour"].update(behaviour or {})
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("dvc", "repro", cwd=repo, env=stack.settings(config))
    sh("git", "add", "-A", cwd=repo)  # only a committed model can be registered
    sh("git", "commit", "-qm", "retrained", cwd=repo)


def test_server_tracking_registry_and_promotion(remote_repo: Path, local_stack) -> None:
    import mlflow

    first = track_and_register(remote_repo, local_stack)
    assert first["tracking_uri"] == local_stack.mlflow_url
    keys = [
        o["Key"]
        for o in stack.aws_client(local_stack).list_objects_v2(Bucket=local_stack.mlflow_bucket)[
            "Contents"
        ]
    ]
    model_id = first["logged_model_uri"].rsplit("/", 1)[-1]  # MLflow 3 stores models by model id
    assert any(model_id in key and key.endswith("MLmodel") for key in keys)
    assert any(first["run_id"] in key and "figures/roc.png" in key for key in keys)

    decision = promote(remote_repo, local_stack)
    assert decision["promoted"] and "no champion yet" in decision["reason"]

    mlflow.set_tracking_uri(local_stack.mlflow_url)
    champion = mlflow.pyfunc.load_model("models:/textclf-imdb@champion")
    test = pd.read_parquet(remote_repo / "data/prepared/test.parquet")
    pipeline = load_model_file(remote_repo / "models/model.skops").pipeline
    assert list(champion.predict(test[["text"]])) == list(pipeline.predict(test["text"].tolist()))

    # A much worse model: the behaviour gate stops it before it is tracked (test_pipeline
    # covers that); without a suite it gets registered, and the metric rule refuses it.
    with pytest.raises(AssertionError, match="behaviour tests failed"):
        retrain(remote_repo, local_stack, max_features=30)
    retrain(remote_repo, local_stack, behaviour={"suite": None})
    worse = json.loads(sh("textclf", "register", cwd=remote_repo, env=stack.settings(local_stack)))
    decision = promote(remote_repo, local_stack)
    assert not decision["promoted"]
    assert decision["challenger_score"] < decision["champion_score"]
    assert decision["reason"].startswith("not promoted: challenger v")
    assert "exact McNemar test p = " in decision["reason"]
    assert "the challenger is significantly worse at the 95% level" in decision["reason"]
    client = mlflow.MlflowClient(local_stack.mlflow_url)
    assert client.get_model_version_by_alias("textclf-imdb", "champion").version == first["version"]
    tags = client.get_model_version("textclf-imdb", worse["version"]).tags
    assert tags["promotion.decision"] == "False" and tags["git_commit"]
    assert tags["promotion.test"] == "exact McNemar test"
    assert tags["promotion.rows"] == str(len(test))
    assert float(tags["promotion.high"]) < 0  # the interval of the improvement: all below 0

    # The champion is now beaten by a better challenger trained on the same data.
    client.set_registered_model_alias("textclf-imdb", "champion", worse["version"])
    client.set_registered_model_alias("textclf-imdb", "challenger", first["version"])
    decision = promote(remote_repo, local_stack)
    assert decision["promoted"] and decision["reason"].startswith("promoted: challenger v")
    assert client.get_model_version_by_alias("textclf-imdb", "champion").version == first["version"]


def test_mlflow_server_down_fails_fast_or_falls_back(remote_repo: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = subprocess.run(
        ["textclf", "train"],
        cwd=remote_repo,
        capture_output=True,
        text=True,
        env={**stack.os.environ, "MLFLOW_TRACKING_URI": dead},
    )
    assert result.returncode == 3  # a service that did not answer, not bad input
    assert f"{dead}: the MLflow tracking server is not reachable" in result.stderr
    assert "fallback_to_local" in result.stderr
    assert time.monotonic() - started < 60  # it did not train first

    params = yaml.safe_load((remote_repo / "params.yaml").read_text())
    params["mlflow"]["fallback_to_local"] = True
    fallback_params = remote_repo / "fallback.yaml"
    fallback_params.write_text(yaml.safe_dump(params))
    result = subprocess.run(
        ["textclf", "track", "--params", str(fallback_params)],
        cwd=remote_repo,
        capture_output=True,
        text=True,
        env={**stack.os.environ, "MLFLOW_TRACKING_URI": dead},
    )
    assert result.returncode == 0, result.stderr
    assert "tracking to sqlite:///" in result.stderr
    assert read_json(remote_repo / "reports/mlflow_run.json")["tracking_uri"].startswith("sqlite")


def test_s3_down_during_push_then_push_again_loses_nothing(reproduced_repo, tmp_path) -> None:
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    config = stack.StackConfig(state_dir=tmp_path / "s3", s3_port=free_port(), services=("s3",))
    stack.up(config, root=repo)
    try:
        blob = repo / "data/raw/blob"
        blob.mkdir()
        for i in range(1500):  # many small objects: the push takes long enough to interrupt
            (blob / f"{i}.bin").write_bytes(i.to_bytes(4, "big") * 4096)
        sh("dvc", "add", "data/raw/blob", cwd=repo)
        env = {**stack.os.environ, **stack.settings(config)}
        push = subprocess.Popen(
            ["dvc", "push"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        s3 = stack.aws_client(config)
        deadline = time.monotonic() + 60
        while s3.list_objects_v2(Bucket=config.dvc_bucket)["KeyCount"] < 20:
            assert time.monotonic() < deadline and push.poll() is None, "push ended too soon"
            time.sleep(0.05)
        stack.down(config, root=repo)  # the S3 server dies mid-push
        output, _ = push.communicate(timeout=120)
        assert push.returncode != 0
        assert "files failed to upload" in output
        assert f'Could not connect to the endpoint URL: "{config.s3_url}/' in output

        stack.up(config, root=repo)  # a fresh (empty) S3 server on the same port
        sh("dvc", "push", cwd=repo, env=stack.settings(config))
        expected = {p.name: p.read_bytes() for p in blob.iterdir()}
        shutil.rmtree(repo / ".dvc/cache")
        shutil.rmtree(blob)
        sh("dvc", "pull", "data/raw/blob.dvc", cwd=repo)
        assert {p.name: p.read_bytes() for p in blob.iterdir()} == expected
    finally:
        stack.down(config, root=repo)


def test_down_then_up_clears_the_registry_with_the_s3_that_held_its_artifacts(
    tmp_path: Path, monkeypatch
) -> None:
    """moto's S3 forgets everything when it stops: the registry goes with it, and says so, so
    that after `up` a champion lookup says "no champion", not "No such artifact"."""
    import mlflow
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from textclf.core.errors import DataError
    from textclf.ml.vectorize import FastTfidfVectorizer
    from textclf.registry.models import load_model, log_pipeline

    config = stack.StackConfig(
        state_dir=tmp_path / "stack",
        s3_port=free_port(),
        mlflow_port=free_port(),
        services=("s3", "mlflow"),
    )
    texts, labels = ["good film", "bad film"] * 10, ["pos", "neg"] * 10
    model = make_pipeline(FastTfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    stack.up(config, root=tmp_path)
    try:
        for key, value in stack.settings(config).items():
            monkeypatch.setenv(key, value)
        mlflow.set_tracking_uri(config.mlflow_url)
        with mlflow.start_run():
            logged = log_pipeline(model, texts[:2], {})
        version = mlflow.register_model(logged, "kept").version
        mlflow.MlflowClient().set_registered_model_alias("kept", "champion", version)
        assert load_model("models:/kept@champion", tmp_path).classes == ["neg", "pos"]

        stopped = stack.down(config, root=tmp_path)
        assert any(name.startswith("registry cleared") for name in stopped), stopped
        stack.up(config, root=tmp_path)
        for key, value in stack.settings(config).items():
            monkeypatch.setenv(key, value)
        with pytest.raises(DataError, match="there is no 'champion' version of kept"):
            load_model("models:/kept@champion", tmp_path)
    finally:
        stack.down(config, root=tmp_path)
