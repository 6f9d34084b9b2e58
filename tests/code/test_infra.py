"""Settings from Terraform outputs, the database URL from its secret, the template renderer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.conftest import free_port
from tests.infra.units import read_env_file
from textclf.cli import app
from textclf.core.errors import DataError, ServiceUnavailable, SetupError
from textclf.infra import aws, stack
from textclf.ml.params import load_params

OUTPUTS = {
    "environment": "dev",
    "aws_region": "eu-west-1",
    "dvc_remote_url": "s3://textclf-dev-dvc-123456789012/dvcstore",
    "batch_input_url": "s3://textclf-dev-batch-123456789012/incoming",
    "batch_output_url": "s3://textclf-dev-batch-123456789012/scored",
    "labelled_input_url": "s3://textclf-dev-batch-123456789012/labelled",
    "mlflow_tracking_uri": "http://mlflow.textclf-dev.internal:5000",
    "prefect_api_url": "http://prefect.textclf-dev.internal:4200/api",
    "emr_application_id": "00fkq1b2c3d4e5f6",
    "emr_execution_role_arn": "arn:aws:iam::123456789012:role/textclf-dev-spark-job",
    "emr_staging_url": "s3://textclf-dev-batch-123456789012/emr",
    "ci_role_arn": "arn:aws:iam::123456789012:role/textclf-dev-github-ci",
    "mlflow_instance_id": "i-0123456789abcdef0",
    "prefect_instance_id": "i-0fedcba9876543210",
}


def terraform_json(values: dict[str, str]) -> dict[str, dict]:
    """The shape of `terraform output -json`."""
    return {k: {"sensitive": False, "type": "string", "value": v} for k, v in values.items()}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def dvc_remote(root: Path) -> dict[str, str]:
    from dvc.config import Config

    return dict(Config(dvc_dir=str(root / ".dvc")).load_one("local")["remote"]["storage"])


@pytest.mark.parametrize("shape", [terraform_json, dict], ids=["terraform-json", "flat"])
def test_outputs_become_the_dvc_remote_and_the_environment_file(
    checkout: Path, tmp_path: Path, shape
) -> None:
    source = tmp_path / "outputs.json"
    source.write_text(json.dumps(shape(OUTPUTS)))
    aws.write_settings(aws.read_outputs(source), checkout, source)

    assert dvc_remote(checkout) == {"url": OUTPUTS["dvc_remote_url"], "region": "eu-west-1"}
    env = read_env_file(checkout / ".stack/env")
    assert env["MLFLOW_TRACKING_URI"] == OUTPUTS["mlflow_tracking_uri"]
    assert env["PREFECT_API_URL"] == OUTPUTS["prefect_api_url"]
    assert env["TEXTCLF_EMR_STAGING"] == OUTPUTS["emr_staging_url"]
    assert env["TEXTCLF_BATCH_INPUT"] == OUTPUTS["batch_input_url"]
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert not any(key.startswith("AWS_ACCESS_KEY") for key in env)  # real credentials only


def test_settings_replace_a_previous_local_stack_endpoint(checkout: Path, tmp_path: Path) -> None:
    stack.write_settings(stack.StackConfig(checkout / ".stack"), checkout)
    assert "endpointurl" in dvc_remote(checkout)
    aws.write_settings(OUTPUTS, checkout, tmp_path)
    assert dvc_remote(checkout) == {"url": OUTPUTS["dvc_remote_url"], "region": "eu-west-1"}
    assert "AWS_ENDPOINT_URL_S3" not in (checkout / ".stack/env").read_text()


def test_settings_refuse_while_the_local_stack_runs(checkout: Path, tmp_path: Path) -> None:
    config = stack.StackConfig(checkout / ".stack")
    config.state_dir.mkdir()
    config.pid_file.write_text(json.dumps([{"name": "s3", "pid": os.getpid()}]))
    with pytest.raises(SetupError, match="textclf stack down"):
        aws.write_settings(OUTPUTS, checkout, tmp_path)
    assert not config.env_file.exists()


def test_missing_output_is_named_and_nothing_is_written(checkout: Path, tmp_path: Path) -> None:
    partial = {k: v for k, v in OUTPUTS.items() if k != "prefect_api_url"}
    with pytest.raises(DataError, match="prefect_api_url"):
        aws.write_settings(partial, checkout, tmp_path / "outputs.json")
    assert not (checkout / ".stack/env").exists()
    assert not (checkout / ".dvc/config.local").exists()


def test_tunnel_settings_point_at_forwarded_local_ports() -> None:
    env = aws.settings_env(OUTPUTS, Path("x"), tunnel=True)
    assert env["MLFLOW_TRACKING_URI"] == "http://localhost:5000"
    assert env["PREFECT_API_URL"] == "http://localhost:4200/api"
    commands = aws.tunnel_commands(OUTPUTS)
    assert any("--target i-0123456789abcdef0" in c and "portNumber=5000" in c for c in commands)


def test_cli_writes_settings_and_prints_the_github_variables(
    checkout: Path, tmp_path: Path
) -> None:
    source = tmp_path / "outputs.json"
    source.write_text(json.dumps(terraform_json(OUTPUTS)))
    result = CliRunner().invoke(
        app, ["infra", "settings", "--outputs", str(source), "--root", str(checkout)]
    )
    assert result.exit_code == 0, result.output
    assert f"gh variable set AWS_CI_ROLE_ARN --body {OUTPUTS['ci_role_arn']}" in result.output
    assert (checkout / ".stack/env").exists()


def test_cli_names_a_bad_outputs_file(checkout: Path, tmp_path: Path) -> None:
    source = tmp_path / "outputs.json"
    source.write_text("Error: No outputs found\n")
    result = CliRunner().invoke(
        app, ["infra", "settings", "--outputs", str(source), "--root", str(checkout)]
    )
    assert result.exit_code == 2
    assert str(source) in result.output and "terraform output -json" in result.output


def test_batch_locations_come_from_the_environment_settings(monkeypatch) -> None:
    monkeypatch.setenv("TEXTCLF_BATCH_INPUT", OUTPUTS["batch_input_url"])
    monkeypatch.delenv("TEXTCLF_BATCH_OUTPUT", raising=False)
    batch = load_params().batch
    assert batch.input == OUTPUTS["batch_input_url"]
    assert batch.output == "s3://textclf-batch/scored"  # params.yaml when not overridden


@mock_aws
def test_database_url_quotes_the_secret_password() -> None:
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    password = "p@ss/w:rd?#%"  # RDS-generated passwords contain URL metacharacters
    arn = client.create_secret(
        Name="rds!db-1", SecretString=json.dumps({"username": "mlflow", "password": password})
    )["ARN"]
    url = make_url(aws.database_url(arn, "db.internal:5432", "mlflow"))
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "mlflow",
        password,
        "db.internal",
        5432,
        "mlflow",
    )


def test_a_secret_without_a_value_is_optional_but_a_dead_service_is_not(monkeypatch) -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        empty = client.create_secret(Name="github-token")["ARN"]
        assert aws.secret_value(empty, optional=True) is None
        with pytest.raises(DataError, match="has no value"):
            aws.secret_value(empty)
        client.put_secret_value(SecretId=empty, SecretString="token-1")
        assert aws.secret_value(empty, optional=True) == "token-1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ServiceUnavailable, match="Secrets Manager did not answer"):
        aws.secret_value(empty, optional=True)


def test_with_secret_puts_the_value_in_the_environment_only() -> None:
    """`textclf infra with-secret` replaces itself with the command (exec), so run it in a child
    process that holds the (moto) secret."""
    script = "import os, sys; print(os.environ['GITHUB_TOKEN'], sys.argv[1:])"
    child = (
        "from moto import mock_aws\n"
        "import boto3, sys\n"
        "with mock_aws():\n"
        "    client = boto3.client('secretsmanager', region_name='eu-west-1')\n"
        "    arn = client.create_secret(Name='t', SecretString='s3cr3t')['ARN']\n"
        "    from textclf.cli import app\n"
        "    sys.argv = ['textclf', 'infra', 'with-secret', '--secret-arn', arn,\n"
        f"                '--env', 'GITHUB_TOKEN', '--', sys.executable, '-c', {script!r}, 'x']\n"
        "    app()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"},
    )
    assert result.stdout.strip() == "s3cr3t ['x']", result.stderr
