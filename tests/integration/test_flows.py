"""The Prefect flows: logic under prefect_test_harness, then end to end with deployments from
prefect.yaml, a process worker, and the local stack's Prefect server, MLflow server and S3."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.infra.units import service
from tests.integration.conftest import copy_repo, sh
from textclf.core.errors import DataError
from textclf.infra import stack

pytestmark = pytest.mark.integration


def register_champion(repo: Path, env: dict[str, str], name: str) -> None:
    sh("dvc", "repro", "--force", "--single-item", "track", cwd=repo, env=env)
    sh("textclf", "register", "--name", name, cwd=repo, env=env)
    sh("textclf", "promote", "--name", name, cwd=repo, env=env)


@pytest.fixture(scope="module")
def champion_repo(reproduced_repo: Path, tmp_path_factory) -> Path:
    repo = copy_repo(reproduced_repo, tmp_path_factory.mktemp("flows") / "repo")
    register_champion(
        repo, {"MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'flows.db'}"}, "textclf-imdb"
    )
    return repo


def test_batch_predict_flow_logic(champion_repo: Path, tmp_path: Path, monkeypatch) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from textclf.ops.flows import batch_predict, monitor_flow

    monkeypatch.chdir(champion_repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{champion_repo / 'flows.db'}")
    incoming, scored = tmp_path / "incoming", tmp_path / "scored"
    incoming.mkdir()
    unlabelled = pd.read_parquet(champion_repo / "data/interim/unlabelled.parquet")
    unlabelled[["id", "text"]].head(200).to_parquet(incoming / "unsup.parquet")
    (incoming / "corrupt.parquet").write_bytes(b"not parquet at all")
    arguments = {
        "input_location": str(incoming),
        "output_location": str(scored),
        "params_path": "params.yaml",
        "retrain_on_drift": False,
    }
    with prefect_test_harness():
        with pytest.raises(
            DataError, match=r"1 input file\(s\) could not be scored: corrupt.parquet"
        ):
            batch_predict(**arguments)
        out = pd.read_parquet(scored / "unsup.parquet.parquet")
        assert len(out) == 200 and set(out["model_name"]) == {"textclf-imdb"}
        verdict = json.loads((scored / "unsup.parquet.monitor.json").read_text())["verdict"]
        assert verdict["drift"] is False  # unlabelled IMDB reviews look like the training data

        from prefect.client.orchestration import get_client
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()
        with get_client(sync_client=True) as client:
            messages = {(log.name, log.message) for log in client.read_logs()}
        # the library's own records reach the flow run's log, through the same logging setup
        assert (
            "textclf.ops.batch",
            "scored unsup.parquet: 200 rows -> " + str(scored / "unsup.parquet.parquet"),
        ) in messages
        assert any(
            name == "textclf.ops.batch" and message.startswith("left unscored: ")
            for name, message in messages
        )

        (incoming / "corrupt.parquet").unlink()
        again = batch_predict(**arguments)
        assert again["scored"] == [] and again["skipped"] == ["unsup.parquet"]

        verdict = monitor_flow(
            str(incoming / "unsup.parquet"),
            str(scored / "unsup.parquet.parquet"),
            params_path="params.yaml",
            retrain_on_drift=False,
        )
        assert verdict["rows"] == 200


def test_deployed_batch_predict_on_a_worker(reproduced_repo, local_stack, tmp_path) -> None:
    env = {**os.environ, **stack.settings(local_stack)}
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    stack.write_settings(local_stack, repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["registry"]["model_name"] = "textclf-e2e"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git", "commit", "-qam", "e2e model name", cwd=repo)
    register_champion(repo, env, "textclf-e2e")
    sh("dvc", "push", cwd=repo, env=env)

    # The Prefect host's setup, from the same scripts and systemd unit templates Terraform
    # installs: a checkout with the locked environment, the deploy unit, then the worker unit.
    worker_home = tmp_path / "worker"
    sh("git", "clone", "-q", str(repo), str(worker_home), cwd=tmp_path)
    # the settings the units read: what `textclf infra settings` writes on an EC2 host
    stack.write_settings(replace(local_stack, state_dir=worker_home / ".stack"), worker_home)
    sh("scripts/install-host.sh", cwd=worker_home, env={"UV_COMPILE_BYTECODE": "0"})
    s3 = stack.client(local_stack)
    unlabelled = pd.read_parquet(repo / "data/interim/unlabelled.parquet")[["id", "text"]]
    unlabelled.to_parquet(tmp_path / "unsup.parquet")
    s3.upload_file(
        str(tmp_path / "unsup.parquet"), local_stack.batch_bucket, "incoming/unsup.parquet"
    )

    unit_values = {
        "service_user": getpass.getuser(),
        "textclf_home": worker_home,
        "prefect_home": tmp_path / "prefect-home",
        "work_pool": "ec2-process",
        "port": local_stack.prefect_port,
    }
    deploy = service("orchestration", "textclf-deploy.service", **unit_values)
    run_unit = {"HOME": os.environ["HOME"]}  # systemd starts services with a clean environment
    # uv comes from pip on the hosts (/usr/local/bin, on the unit's PATH); here it is elsewhere.
    uv_dir = str(Path(shutil.which("uv")).parent)
    subprocess.run(
        deploy.argv,
        cwd=deploy.cwd,
        env={**run_unit, **deploy.env, "PATH": f"{deploy.env['PATH']}:{uv_dir}"},
        check=True,
        capture_output=True,
    )
    worker = service("orchestration", "prefect-worker.service", **unit_values)
    with open(tmp_path / "worker.log", "wb") as log:  # the worker keeps its own handle
        worker_process = subprocess.Popen(
            worker.argv,
            cwd=worker.cwd,
            env={**run_unit, **worker.env, "PATH": f"{worker.env['PATH']}:{uv_dir}"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def run_batch_deployment() -> None:
            result = subprocess.run(
                [
                    "prefect",
                    "deployment",
                    "run",
                    "batch-predict/batch-predict",
                    "--watch",
                    "--watch-timeout",
                    "600",
                ],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
                timeout=700,
            )
            log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
            assert result.returncode == 0, result.stdout + result.stderr + log
            assert "Completed" in result.stdout, result.stdout + log

        run_batch_deployment()
        scored_key = "scored/unsup.parquet.parquet"
        s3.download_file(local_stack.batch_bucket, scored_key, str(tmp_path / "scored.parquet"))
        scored = pd.read_parquet(tmp_path / "scored.parquet")
        assert len(scored) == len(unlabelled) and set(scored["model_name"]) == {"textclf-e2e"}
        manifest = json.loads(
            s3.get_object(Bucket=local_stack.batch_bucket, Key="scored/_manifest.json")[
                "Body"
            ].read()
        )
        assert list(manifest["inputs"]) == ["unsup.parquet"]
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=local_stack.batch_bucket)["Contents"]}
        assert "scored/unsup.parquet.monitor.html" in keys
        first = s3.head_object(Bucket=local_stack.batch_bucket, Key=scored_key)["LastModified"]

        run_batch_deployment()  # nothing new: nothing is scored again
        again = json.loads(
            s3.get_object(Bucket=local_stack.batch_bucket, Key="scored/_manifest.json")[
                "Body"
            ].read()
        )
        assert again == manifest
        assert (
            s3.head_object(Bucket=local_stack.batch_bucket, Key=scored_key)["LastModified"] == first
        )
    finally:
        os.killpg(worker_process.pid, signal.SIGTERM)
        worker_process.wait(timeout=60)


def test_retrain_registers_promotes_pushes_and_is_idempotent(
    reproduced_repo, local_stack, tmp_path
):
    from textclf.ops.retrain import run_retrain

    env = stack.settings(local_stack)
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    stack.write_settings(local_stack, repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["registry"]["model_name"] = "textclf-retrain"
    params["train"]["classifier"]["C"] = 0.2  # a change for retraining to pick up
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    summary = run_retrain(repo, env)
    assert [step["step"] for step in summary["steps"]] == [
        "pull",
        "update",
        "repro",
        "register",
        "promote",
        "push",
    ]
    assert summary["promoted"] is True and "no champion yet" in summary["reason"]
    assert summary["register"]["tracking_uri"] == local_stack.mlflow_url
    assert "Everything is up to date" in sh("dvc", "push", cwd=repo, env=env)

    again = run_retrain(repo, env)
    assert [step["step"] for step in again["steps"]] == ["pull", "update", "repro", "push"]
    assert again["reason"] == "the pipeline was up to date: no new model to register"
    assert json.loads((repo / "reports/retrain_summary.json").read_text()) == again
