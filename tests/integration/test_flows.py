"""The Prefect flows: logic under prefect_test_harness, then end to end with deployments from
prefect.yaml, a process worker, and the local stack's Prefect server, MLflow server and S3."""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.infra.units import service
from tests.integration.conftest import HARNESS_STARTUP_SECONDS, copy_repo, register_champion, sh
from textclf.core.errors import DataError
from textclf.infra import stack

pytestmark = pytest.mark.integration


def wait_for_flow_run(flow_run_id: str, env: dict[str, str], timeout: float) -> str:
    """The final state type of a flow run, asked of the Prefect server with its CLI."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        command = ["prefect", "flow-run", "inspect", flow_run_id, "--output", "json"]
        state = json.loads(sh(*command, cwd=Path("."), env=env))["state_type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(3)
    raise AssertionError(f"flow run {flow_run_id} did not finish in {timeout} s")


def test_batch_predict_flow_logic(champion_repo: Path, tmp_path: Path, monkeypatch) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from textclf.flows import batch_predict, monitor_flow

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
    with prefect_test_harness(server_startup_timeout=HARNESS_STARTUP_SECONDS):
        with pytest.raises(
            DataError, match=r"1 input file\(s\) could not be scored: corrupt.parquet"
        ):
            batch_predict(**arguments)
        out = pd.read_parquet(scored / "unsup.parquet")
        assert len(out) == 200 and set(out["model_name"]) == {"textclf-imdb"}
        verdict = json.loads((scored / "unsup.monitor.json").read_text())["verdict"]
        assert verdict["drift"] is False  # unlabelled IMDB reviews look like the training data

        from prefect.client.orchestration import get_client
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()
        with get_client(sync_client=True) as client:
            messages = {(log.name, log.message) for log in client.read_logs()}
        # the library's own records reach the flow run's log, through the same logging setup
        assert (
            "textclf.batch.job",
            "scored unsup.parquet: 200 rows -> " + str(scored / "unsup.parquet"),
        ) in messages
        assert any(
            name == "textclf.batch.job" and message.startswith("left unscored: ")
            for name, message in messages
        )

        (incoming / "corrupt.parquet").unlink()
        again = batch_predict(**arguments)
        assert again["scored"] == [] and again["skipped"] == ["unsup.parquet"]

        verdict = monitor_flow(
            str(incoming / "unsup.parquet"),
            str(scored / "unsup.parquet"),
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
    s3 = stack.aws_client(local_stack)
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
        # created without a value, as Terraform creates it: the worker starts without a token
        "github_token_secret_arn": stack.aws_client(local_stack, "secretsmanager").create_secret(
            Name=f"github-token-{tmp_path.name}"
        )["ARN"],
    }
    deploy = service("orchestration", "textclf-deploy.service", **unit_values)
    # systemd starts services with a clean environment; this machine's package-index settings
    # (its TLS certificates, proxy) come along, as a host's system-wide settings would.
    network = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    run_unit = {
        "HOME": os.environ["HOME"],
        **{
            name: value
            for name, value in os.environ.items()
            if name in network or name.startswith(("PIP_", "UV_", "HTTP", "NO_PROXY"))
        },
    }
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

        def run_deployment(name: str = "batch-predict/batch-predict", *options: str) -> None:
            result = subprocess.run(
                [
                    "prefect",
                    "deployment",
                    "run",
                    name,
                    *options,
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

        run_deployment()
        scored_key = "scored/unsup.parquet"
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
        assert "scored/unsup.monitor.html" in keys
        first = s3.head_object(Bucket=local_stack.batch_bucket, Key=scored_key)["LastModified"]

        run_deployment()  # nothing new: nothing is scored again
        again = json.loads(
            s3.get_object(Bucket=local_stack.batch_bucket, Key="scored/_manifest.json")[
                "Body"
            ].read()
        )
        assert again == manifest
        assert (
            s3.head_object(Bucket=local_stack.batch_bucket, Key=scored_key)["LastModified"] == first
        )

        # main moves on (no run pulls the checkout, so nothing conflicts), a labelled file and a
        # new batch land, and a drift-started retrain and a batch run go at the same time on
        # the same worker. The retrain works in a tree of its own and pushes a branch to the
        # checkout's origin (`repo` here); with no GitHub token it opens no pull request.
        (repo / "NOTES.md").write_text("main moved\n")
        sh("git", "add", "NOTES.md", cwd=repo)
        sh("git", "commit", "-qm", "main moves", cwd=repo)
        labelled = unlabelled.head(300).assign(
            label=["pos" if i % 3 else "neg" for i in range(300)]
        )
        labelled.to_parquet(tmp_path / "labelled.parquet")
        s3.upload_file(
            str(tmp_path / "labelled.parquet"), local_stack.batch_bucket, "labelled/l.parquet"
        )
        unlabelled.head(50).to_parquet(tmp_path / "more.parquet")
        s3.upload_file(
            str(tmp_path / "more.parquet"), local_stack.batch_bucket, "incoming/more.parquet"
        )
        started = sh(
            "prefect", "deployment", "run", "retrain/retrain", "--param", "reason=drift",
            cwd=repo, env=env,
        )  # fmt: skip
        retrain_run = re.search(r"UUID: ([0-9a-f-]{36})", started)[1]
        run_deployment()  # the batch run, while the retrain runs
        assert "scored/more.parquet" in {
            o["Key"] for o in s3.list_objects_v2(Bucket=local_stack.batch_bucket)["Contents"]
        }
        state = wait_for_flow_run(retrain_run, env, timeout=600)
        log = (tmp_path / "worker.log").read_text(errors="replace")[-4000:]
        assert state == "COMPLETED", log
        branches = sh("git", "branch", "--list", "retrain/*", cwd=repo).split()
        assert len(branches) == 1 and branches[0].startswith("retrain/")
        assert sh("git", "diff", "--stat", "main", branches[0], "--", "dvc.lock", cwd=repo)
        assert sh("git", "status", "--porcelain", cwd=worker_home) == ""
        assert "no pull request opened" in (tmp_path / "worker.log").read_text(errors="replace")
    finally:
        os.killpg(worker_process.pid, signal.SIGTERM)
        try:
            worker_process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: do not leave it running
            os.killpg(worker_process.pid, signal.SIGKILL)
            worker_process.wait(timeout=30)
