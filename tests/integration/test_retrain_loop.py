"""The retraining loop end to end, with real parts: a bare git repository as the remote, the
local stack's S3 (DVC remote, labelled input) and MLflow server, and a loopback server that
checks the pull-request call as GitHub documents it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.fake_github import FakeGitHub, serving
from tests.integration.conftest import copy_repo, sh
from textclf.core.errors import StepFailed
from textclf.core.files import file_digest
from textclf.core.gitrepo import locked_model_md5
from textclf.infra import stack
from textclf.ml.persist import load_model_file
from textclf.retrain.loop import run_retrain

pytestmark = pytest.mark.integration
NAME = "textclf-loop"


@pytest.fixture
def github():
    with serving() as url:
        yield url


def test_labelled_file_in_reproducible_model_out_as_a_branch_and_a_pull_request(
    reproduced_repo: Path, local_stack, github: str, tmp_path: Path, monkeypatch
) -> None:
    env = {**stack.settings(local_stack), "GITHUB_TOKEN": "secret-token"}
    # a prefix of its own: other tests of the session deliver to the stack's labelled/
    env["TEXTCLF_LABELLED_INPUT"] = f"s3://{local_stack.batch_bucket}/labelled-loop"
    for key, value in env.items():  # the worker's environment: .stack/env and the token
        monkeypatch.setenv(key, value)
    # main: the reproduced sample, with this test's registry name and GitHub settings
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["registry"]["model_name"] = NAME
    params["retrain"].update(github_api=github, github_repository="acme/textclf")
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stack.write_settings(local_stack, repo)
    sh("dvc", "repro", cwd=repo, env=env)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "loop settings", cwd=repo)
    sh("dvc", "push", cwd=repo, env=env)
    remote = tmp_path / "remote.git"
    sh("git", "clone", "-q", "--bare", str(repo), str(remote), cwd=tmp_path)

    # the worker's checkout: a clone of the remote with the environment's settings
    worker = tmp_path / "worker"
    sh("git", "clone", "-q", str(remote), str(worker), cwd=tmp_path)
    stack.write_settings(local_stack, worker)
    head_before = sh("git", "rev-parse", "HEAD", cwd=worker).strip()

    # a labelled file lands: the sample's unlabelled reviews, labelled as the current model
    # reads them (plausible labels: with arbitrary ones, the behaviour gate rightly stops the
    # retrained model, and this test is about the loop)
    new = pd.read_parquet(repo / "data/interim/unlabelled.parquet")[["id", "text"]]
    model = load_model_file(repo / "models/model.skops").pipeline
    new["label"] = model.predict(new["text"].tolist())
    new.to_parquet(tmp_path / "reviews.parquet")
    s3 = stack.aws_client(local_stack)
    s3.upload_file(
        str(tmp_path / "reviews.parquet"), local_stack.batch_bucket, "labelled-loop/a.parquet"
    )

    summary = run_retrain(worker, "scheduled")
    branch = summary["branch"]
    assert summary["labelled"]["rows"] == len(new), summary
    assert summary["promote"]["promoted"] is True
    assert summary["pull_request"] == {
        "opened": True,
        "number": 7,
        "url": "https://github.com/acme/textclf/pull/7",
    }
    (request,) = FakeGitHub.received
    assert (request["head"], request["base"]) == (branch, "main")
    assert request["body"].startswith("<!-- textclf-report -->")
    assert f"champion v{summary['register']['version']}" in request["body"]

    # the branch is on the remote, and its dvc.lock names a new model
    assert sh("git", "ls-remote", str(remote), f"refs/heads/{branch}", cwd=tmp_path).split()[0] == (
        summary["commit"]
    )
    main_lock = sh("git", "show", "main:dvc.lock", cwd=remote)
    branch_lock = sh("git", "show", f"{branch}:dvc.lock", cwd=remote)
    assert locked_model_md5(branch_lock) != locked_model_md5(main_lock)

    # checkout + dvc pull in a new clone gives the registered model, byte for byte
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", "--branch", branch, str(remote), str(clone), cwd=tmp_path)
    stack.write_settings(local_stack, clone)
    sh("dvc", "pull", cwd=clone, env=env)
    import mlflow

    version = mlflow.MlflowClient(local_stack.mlflow_url).get_model_version(
        NAME, summary["register"]["version"]
    )
    assert version.tags["git_commit"] == summary["commit"]
    assert version.tags["model_md5"] == file_digest(clone / "models/model.skops")
    assert version.tags["model_md5"] == locked_model_md5(branch_lock)
    assert len(list((clone / "data/labelled").glob("*.parquet"))) == 1

    # the worker's checkout is untouched
    assert sh("git", "status", "--porcelain", cwd=worker) == ""
    assert sh("git", "rev-parse", "HEAD", cwd=worker).strip() == head_before
    assert sh("git", "branch", "--list", cwd=worker).split() == ["*", "main"]

    # the same file again: nothing new is registered
    again = run_retrain(worker, "scheduled")
    assert again["labelled"]["skipped"] == ["a.parquet"] and "register" not in again, again
    assert again["outcome"] == "the pipeline was up to date: no new model to register"

    # drift with no new labelled data says so, and trains nothing
    drift = run_retrain(worker, "drift")
    assert drift["outcome"].startswith("drift detected, but there is no new labelled data")
    assert [step["step"] for step in drift["steps"]] == ["cache", "pull", "fold in"]
    shutil.rmtree(clone)

    # every retrain left its evidence: an MLflow run in <model>-retrains, named in the summary
    client = mlflow.MlflowClient(local_stack.mlflow_url)
    first = client.get_run(_run_id(summary["evidence"]))
    assert first.data.tags["retrain.outcome"] == "succeeded"
    assert first.data.tags["retrain.registered_version"] == summary["register"]["version"]
    assert client.get_experiment(first.info.experiment_id).name == f"{NAME}-retrains"
    kept = {item.path for item in client.list_artifacts(first.info.run_id)}
    assert {"steps.log", "summary.json", "pull-request.md", "reports"} <= kept
    assert "up to date" in client.get_run(_run_id(again["evidence"])).data.tags["retrain.summary"]

    # a delivery labelled against the texts: the challenger fails the behaviour gate, and the
    # error says where its own behaviour report is (the checkout's is the champion's)
    wrong = new.assign(text=new["text"] + " (again)", label=new["label"].map(FLIP))
    wrong.to_parquet(tmp_path / "wrong.parquet")
    s3.upload_file(
        str(tmp_path / "wrong.parquet"), local_stack.batch_bucket, "labelled-loop/b.parquet"
    )
    with pytest.raises(StepFailed) as failed:
        run_retrain(worker, "scheduled")
    assert "retraining stopped at the repro step" in str(failed.value)
    assert "behaviour" in str(failed.value)
    evidence = client.get_run(_run_id(failed.value.fix))
    assert evidence.data.tags["retrain.outcome"] == "failed"
    assert evidence.data.tags["retrain.failed_step"] == "repro"
    folder = Path(client.download_artifacts(evidence.info.run_id, "reports", str(tmp_path)))
    challenger = json.loads((folder / "behaviour.json").read_text())
    champion = json.loads((worker / "reports/behaviour.json").read_text())
    assert challenger != champion
    assert not all(test["passed"] for test in challenger["tests"].values())
    steps = Path(client.download_artifacts(evidence.info.run_id, "steps.log", str(tmp_path)))
    assert "== repro: $" in steps.read_text()


FLIP = {"pos": "neg", "neg": "pos"}


def _run_id(text: str) -> str:
    """The run id in "... MLflow run <id> in experiment ..." (the summary, an error's fix)."""
    return text.split("MLflow run ", 1)[1].split()[0]
