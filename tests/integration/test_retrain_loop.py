"""The retraining loop end to end, with real parts: a bare git repository as the remote, the
local stack's S3 (DVC remote, labelled input) and MLflow server, and a loopback server that
checks the pull-request call as GitHub documents it."""

from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import pandas as pd
import pytest
import yaml

from tests.fake_github import FakeGitHub, serving
from tests.integration.conftest import copy_repo, sh
from textclf.core.files import file_digest
from textclf.core.gitrepo import locked_model_md5
from textclf.infra import stack
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
    new["label"] = joblib.load(repo / "models/model.joblib").predict(new["text"].tolist())
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
    assert version.tags["model_md5"] == file_digest(clone / "models/model.joblib")
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


@pytest.mark.parametrize(
    ("server", "at_step"),
    [("mlflow", "register"), ("s3", "push data")],
    ids=["mlflow-down-after-the-branch-push", "s3-down-during-the-data-push"],
)
def test_a_server_down_mid_retrain_leaves_nothing_half_made(
    reproduced_repo: Path, tmp_path: Path, monkeypatch, server: str, at_step: str
) -> None:
    """A server stops part-way: the MLflow server after the branch was pushed (the branch is
    taken back), or S3 while the outputs are pushed (the branch is never pushed). Either way
    nothing is registered and no branch is left, and the next run completes the work."""
    from dataclasses import replace

    from tests.conftest import free_port
    from textclf.core.errors import ServiceUnavailable, StepFailed
    from textclf.retrain import loop as retrain

    s3 = stack.StackConfig(state_dir=tmp_path / "s3", s3_port=free_port(), services=("s3",))
    tracking = replace(
        s3, state_dir=tmp_path / "mlflow", mlflow_port=free_port(), services=("mlflow",)
    )
    stack.up(s3, root=s3.state_dir)
    stack.up(tracking, root=tracking.state_dir)
    try:
        env = stack.settings(tracking)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        repo = copy_repo(reproduced_repo, tmp_path / "repo")
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["registry"]["model_name"] = "textclf-fault"
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stack.write_settings(tracking, repo)
        sh("dvc", "repro", cwd=repo)
        sh("git", "add", "-A", cwd=repo)
        sh("git", "commit", "-qm", "fault settings", cwd=repo)
        sh("dvc", "push", cwd=repo)
        remote = tmp_path / "remote.git"
        sh("git", "clone", "-q", "--bare", str(repo), str(remote), cwd=tmp_path)
        worker = tmp_path / "worker"
        sh("git", "clone", "-q", str(remote), str(worker), cwd=tmp_path)
        stack.write_settings(tracking, worker)
        new = pd.read_parquet(repo / "data/interim/unlabelled.parquet")[["id", "text"]].head(200)
        new.assign(label=["pos", "neg"] * 100).to_parquet(tmp_path / "l.parquet")

        def deliver() -> None:
            stack.aws_client(s3).upload_file(
                str(tmp_path / "l.parquet"), s3.batch_bucket, "labelled/l.parquet"
            )

        deliver()
        stopped = tracking if server == "mlflow" else s3
        real_step = retrain.Retraining.step

        def server_stops(self, name, *command, run=True):
            if name == at_step:
                stack.down(stopped, root=stopped.state_dir)
            return real_step(self, name, *command, run=run)

        monkeypatch.setattr(retrain.Retraining, "step", server_stops)
        with pytest.raises((ServiceUnavailable, StepFailed), match=f"the {at_step} step"):
            run_retrain(worker, "scheduled")
        assert sh("git", "ls-remote", "--heads", str(remote), "retrain/*", cwd=tmp_path) == ""
        assert sh("git", "status", "--porcelain", cwd=worker) == ""

        monkeypatch.setattr(retrain.Retraining, "step", real_step)
        stack.up(stopped, root=stopped.state_dir)
        if server == "s3":  # moto keeps objects in memory: put back what S3 itself would keep
            sh("dvc", "push", cwd=repo)
            deliver()
        import mlflow

        client = mlflow.MlflowClient(tracking.mlflow_url)
        assert client.search_model_versions("name = 'textclf-fault'") == []
        summary = run_retrain(worker, "scheduled")
        assert summary["register"]["version"] == "1"
        heads = sh("git", "ls-remote", "--heads", str(remote), "retrain/*", cwd=tmp_path)
        assert heads.split()[0] == summary["commit"]
        assert (
            client.get_model_version("textclf-fault", "1").tags["git_commit"] == summary["commit"]
        )
    finally:
        stack.down(tracking, root=tracking.state_dir)
        stack.down(s3, root=s3.state_dir)
