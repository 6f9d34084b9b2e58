"""The AWS environment from the repository's side: settings from Terraform outputs, and the
database URL from its secret.

`textclf infra settings` turns `terraform output -json` (or the same values as a flat JSON
object, which is what Terraform hands the hosts in their user data) into the files the rest of
the repository reads: the DVC remote in `.dvc/config.local` and the environment in `.stack/env`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from textclf.core import environment
from textclf.core.errors import DataError, ServiceUnavailable, SetupError, StepFailed
from textclf.infra import stack

TERRAFORM_DIR = Path("infra/terraform")

# Terraform output => environment variable it becomes (None: written to .dvc/config.local).
SETTINGS_OUTPUTS: dict[str, str | None] = {
    "aws_region": "AWS_DEFAULT_REGION",
    "dvc_remote_url": None,
    "batch_input_url": "TEXTCLF_BATCH_INPUT",
    "batch_output_url": "TEXTCLF_BATCH_OUTPUT",
    "labelled_input_url": "TEXTCLF_LABELLED_INPUT",
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
    "prefect_api_url": "PREFECT_API_URL",
    "emr_application_id": "TEXTCLF_EMR_APPLICATION_ID",
    "emr_execution_role_arn": "TEXTCLF_EMR_EXECUTION_ROLE_ARN",
    "emr_staging_url": "TEXTCLF_EMR_STAGING",
}
# Outputs printed for the people who set up CI and open tunnels; not written anywhere.
CI_ROLE_OUTPUT = "ci_role_arn"
TUNNEL_OUTPUTS = {
    "mlflow_tracking_uri": "mlflow_instance_id",
    "prefect_api_url": "prefect_instance_id",
}


def read_outputs(source: Path | None, terraform_dir: Path = TERRAFORM_DIR) -> dict[str, Any]:
    """Outputs from a JSON file (`terraform output -json` or flat), or from Terraform itself."""
    if source is None:
        raw = _terraform_outputs(terraform_dir)
        origin: Path = terraform_dir
    else:
        origin = source
        try:
            raw = json.loads(source.read_text())
        except FileNotFoundError:
            raise DataError(source, "the outputs file does not exist", "check the path") from None
        except json.JSONDecodeError as error:
            raise DataError(
                source,
                f"not JSON ({error.msg}, line {error.lineno})",
                "write it with `terraform output -json > FILE`",
            ) from None
    if not isinstance(raw, dict):
        raise DataError(origin, "expected a JSON object of outputs", "use `terraform output -json`")
    # `terraform output -json` wraps each value: {"name": {"value": ..., "type": ...}}.
    return {
        name: item["value"] if isinstance(item, dict) and "value" in item else item
        for name, item in raw.items()
    }


def _terraform_outputs(terraform_dir: Path) -> Any:
    try:
        result = subprocess.run(
            ["terraform", f"-chdir={terraform_dir}", "output", "-json"],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        raise SetupError(
            terraform_dir,
            "terraform is not installed here",
            "run `terraform output -json > outputs.json` where it is, then pass --outputs",
        ) from None
    if result.returncode != 0:
        raise StepFailed(
            terraform_dir,
            f"`terraform output -json` failed: {result.stderr.strip()[:300]}",
            "run `make infra-init ENV=...` (and apply) first",
        )
    return json.loads(result.stdout or "{}")


def settings_env(outputs: Mapping[str, Any], origin: Path, tunnel: bool = False) -> dict[str, str]:
    """The environment file's values; `tunnel` points MLflow/Prefect at SSM-forwarded ports."""
    missing = [name for name in SETTINGS_OUTPUTS if not outputs.get(name)]
    if missing:
        raise DataError(
            origin,
            f"missing outputs: {', '.join(missing)}",
            "apply infra/terraform first, or pass the JSON of `terraform output -json`",
            field=missing[0],
        )
    env = {var: str(outputs[name]) for name, var in SETTINGS_OUTPUTS.items() if var is not None}
    if tunnel:
        for name in TUNNEL_OUTPUTS:
            env[SETTINGS_OUTPUTS[name]] = _via_localhost(env[SETTINGS_OUTPUTS[name]])
    env.update(environment.defaults())
    return env


def _via_localhost(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"localhost:{parts.port}").geturl()


def tunnel_commands(outputs: Mapping[str, Any]) -> list[str]:
    """`aws ssm start-session` port forwards that make the tunnel settings work."""
    commands = []
    for url_output, instance_output in TUNNEL_OUTPUTS.items():
        port = urlsplit(str(outputs[url_output])).port
        commands.append(
            f"aws ssm start-session --target {outputs.get(instance_output, '<instance id>')} "
            "--document-name AWS-StartPortForwardingSession "
            f"--parameters portNumber={port},localPortNumber={port}"
        )
    return commands


def github_variables(outputs: Mapping[str, Any]) -> dict[str, str]:
    """Repository variables the PR-report workflow reads (`gh variable set NAME --body VALUE`)."""
    values = {
        "AWS_REGION": str(outputs.get("aws_region", "")),
        "DVC_REMOTE_URL": str(outputs.get("dvc_remote_url", "")),
        "AWS_CI_ROLE_ARN": str(outputs.get(CI_ROLE_OUTPUT, "")),
    }
    return {name: value for name, value in values.items() if value}


def write_settings(
    outputs: Mapping[str, Any], root: Path, origin: Path, tunnel: bool = False
) -> dict[str, str]:
    """Write `.stack/env` and the DVC remote's url/region in `.dvc/config.local`."""
    config = stack.StackConfig(root / ".stack")
    if any(stack.status(config).values()):
        raise SetupError(
            config.pid_file,
            "the local stack is running and owns these settings",
            "stop it first: textclf stack down",
        )
    env = settings_env(outputs, origin, tunnel)
    remote = {"url": str(outputs["dvc_remote_url"]), "region": str(outputs["aws_region"])}
    stack.apply_settings(config.env_file, env, root, remote)
    return env


def secret_value(secret_arn: str, optional: bool = False, client: Any = None) -> str | None:
    """A secret's current string. With `optional`, a secret that has no value yet is None;
    a Secrets Manager that does not answer is never taken for that."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager", region_name=secret_arn.split(":")[3])
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        if optional:
            return None
        raise DataError(
            secret_arn, "the secret has no value", "put one: aws secretsmanager put-secret-value"
        ) from None
    except (BotoCoreError, ClientError) as error:
        raise ServiceUnavailable(
            secret_arn, f"Secrets Manager did not answer ({error})", "retry when it is reachable"
        ) from error


def database_url(
    secret_arn: str,
    endpoint: str,
    database: str,
    scheme: str = "postgresql+psycopg2",  # SQLAlchemy 2.1's bare postgresql:// means psycopg 3
    client: Any = None,
) -> str:
    """SQLAlchemy URL of an RDS database whose credentials RDS keeps in Secrets Manager."""
    secret = json.loads(secret_value(secret_arn, client=client) or "{}")
    user, password = quote(secret["username"], safe=""), quote(secret["password"], safe="")
    return f"{scheme}://{user}:{password}@{endpoint}/{database}"


def ensure_database(url: str) -> bool:
    """Create the database `url` (a SQLAlchemy URL) names if it is missing; True if created.
    RDS creates one database; the Prefect server's is made here, at its first start."""
    import psycopg2
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    server = make_url(url)
    database = server.database
    connection = psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        dbname="postgres",
    )
    try:
        connection.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            return True
    finally:
        connection.close()
