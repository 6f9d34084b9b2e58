"""The retraining loop when a server stops part-way, with real parts: its own S3 (moto) and
MLflow servers, stopped and started again, and a bare git repository as the remote."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import free_port
from tests.integration.conftest import copy_repo, sh
from textclf.core.errors import ServiceUnavailable, StepFailed
from textclf.infra import stack
from textclf.retrain import loop as retrain
from textclf.retrain.loop import run_retrain

pytestmark = pytest.mark.integration


def test_servers_down_mid_retrain_leave_nothing_half_made_and_the_next_run_completes(
    reproduced_repo: Path, tmp_path: Path, monkeypatch
) -> None:
    """A server stops part-way: S3 while the outputs are pushed (the branch is never pushed),
    then, on the next try, the MLflow server after the branch was pushed (the branch is taken
    back). Either way nothing is registered and no branch is left, and the run after completes
    the work. One sequence on one set of servers: each try is a whole retrain."""
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
        import mlflow

        client = mlflow.MlflowClient(tracking.mlflow_url)
        real_step = retrain.Retraining.step
        for stopped, at_step in ((s3, "push data"), (tracking, "register")):

            def server_stops(self, name, *command, run=True, stopped=stopped, at_step=at_step):
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
            if stopped is s3:  # moto keeps objects in memory: put back what S3 itself would keep
                sh("dvc", "push", cwd=repo)
                deliver()
            assert client.search_model_versions("name = 'textclf-fault'") == []

        summary = run_retrain(worker, "scheduled")
        assert summary["register"]["version"] == "1"
        heads = sh("git", "ls-remote", "--heads", str(remote), "retrain/*", cwd=tmp_path)
        assert heads.split()[0] == summary["commit"]
        assert (
            client.get_model_version("textclf-fault", "1").tags["git_commit"] == summary["commit"]
        )
        # the tries before left the work they finished in DVC's run cache: this run trained
        # nothing again (the delivered rows are the same bytes each try); its evidence says so
        run_id = summary["evidence"].split()[2]
        steps = Path(client.download_artifacts(run_id, "steps.log", str(tmp_path))).read_text()
        assert "Stage 'train' is cached - skipping run" in steps, steps
    finally:
        stack.down(tracking, root=tracking.state_dir)
        stack.down(s3, root=s3.state_dir)
