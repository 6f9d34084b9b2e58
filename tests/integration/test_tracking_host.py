"""The MLflow host's systemd unit, rendered from its Terraform template and run as systemd would:
a real PostgreSQL that checks passwords, the password read from a Secrets Manager secret (moto,
standing in for AWS), artifacts proxied to S3 (the local stack's)."""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import REPO_ROOT
from tests.infra.units import service
from textclf import stack

PASSWORD = "p@ss/w:rd%?"  # RDS-generated passwords hold characters URLs must escape


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres(tmp_path: Path):
    """PostgreSQL 16 on a loopback TCP port, password (scram) authentication, database mlflow."""
    pgserver = pytest.importorskip("pgserver")
    from pgserver._commands import pg_ctl

    data = tmp_path / "pgdata"
    server = pgserver.get_server(data, cleanup_mode=None)  # initdb, then up on a unix socket
    server.psql(f"ALTER USER postgres PASSWORD '{PASSWORD}';")
    server.psql("CREATE DATABASE mlflow;")
    pg_ctl(["-w", "stop"], pgdata=data, user=server.system_user)
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    port = free_port()
    listen = ["-o", "-h 127.0.0.1", "-o", f"-p {port}", "-o", f"-k {data}"]
    pg_ctl(
        ["-w", *listen, "-l", str(data / "server.log"), "start"],
        pgdata=data,
        user=server.system_user,
        timeout=30,
    )
    yield port
    pg_ctl(["-w", "stop"], pgdata=data, user=server.system_user)


def test_mlflow_unit_serves_from_postgres_with_the_password_from_the_secret(
    local_stack: stack.StackConfig, postgres: int, tmp_path: Path
) -> None:
    aws = stack.settings(local_stack)
    secrets = stack.client(local_stack, "secretsmanager")
    secret_arn = secrets.create_secret(
        Name=f"rds!db-{postgres}",
        SecretString=json.dumps({"username": "postgres", "password": PASSWORD}),
    )["ARN"]
    port = free_port()
    mlflow = service(
        "tracking",
        "mlflow-server.service",
        service_user=getpass.getuser(),
        textclf_home=REPO_ROOT,
        aws_region=stack.REGION,
        db_secret_arn=secret_arn,
        db_endpoint=f"127.0.0.1:{postgres}",
        db_name="mlflow",
        port=port,
        workers=1,
        artifact_bucket=local_stack.mlflow_bucket,
        allowed_hosts="localhost:*,127.0.0.1:*",
    )
    # On EC2 the instance profile supplies credentials and AWS its endpoints; here the local
    # stack's settings do, plus the endpoint of Secrets Manager.
    env = {
        **os.environ,
        **aws,
        **mlflow.env,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": local_stack.s3_url,
    }
    with open(tmp_path / "mlflow.log", "wb") as log:
        process = subprocess.Popen(
            mlflow.argv,
            cwd=mlflow.cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/health", process, tmp_path / "mlflow.log")
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        assert "mlflow" in cmdline and "server" in cmdline
        assert PASSWORD not in cmdline and "p%40ss" not in cmdline  # never on the command line

        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=url)
        experiment = client.create_experiment("tracking-host")
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "accuracy", 0.9)
        (tmp_path / "note.txt").write_text("hello")
        client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))

        with (
            psycopg2.connect(
                host="127.0.0.1", port=postgres, user="postgres", password=PASSWORD, dbname="mlflow"
            ) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT key, value FROM metrics WHERE run_uuid = %s", (run.info.run_id,))
            assert cursor.fetchall() == [("accuracy", 0.9)]
        s3 = stack.client(local_stack)
        keys = [
            item["Key"]
            for item in s3.list_objects_v2(Bucket=local_stack.mlflow_bucket, Prefix="artifacts/")[
                "Contents"
            ]
        ]
        assert any(key.endswith(f"{run.info.run_id}/artifacts/note.txt") for key in keys), keys
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"not healthy after {timeout} s:\n{log.read_text()[-3000:]}")
