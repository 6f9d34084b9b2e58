"""The local stack: S3 (moto server mode), an MLflow server with S3 artifacts, and a Prefect server.

The same topology as production, on loopback: `textclf stack up` starts the servers, creates the
buckets, waits until each is healthy and writes the connection settings the rest of the repository
reads (`.stack/env` and the DVC remote's `endpointurl` in `.dvc/config.local`); `textclf stack down`
stops them. Moto keeps S3 in memory: what the stack stored is gone after `stack down`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from textclf.core import environment
from textclf.core.errors import ServiceUnavailable, SetupError
from textclf.core.files import write_json, write_text
from textclf.core.health import port_in_use, wait_until_healthy

ACCESS_KEY = "testing"  # moto accepts any credentials; these never leave loopback
REGION = "us-east-1"
DVC_REMOTE = "storage"
REGISTRY_STORE = "mlflow.db"  # the stack's MLflow server: runs and registry (artifacts in S3)


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path = Path(".stack")
    host: str = "127.0.0.1"
    s3_port: int = 9000
    mlflow_port: int = 5000
    prefect_port: int = 4200
    serve_port: int = 8000
    dvc_bucket: str = "textclf-dvc"
    mlflow_bucket: str = "textclf-mlflow"
    batch_bucket: str = "textclf-batch"
    services: tuple[str, ...] = ("s3", "mlflow", "prefect")

    @property
    def s3_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def serve_url(self) -> str:
        return f"http://{self.host}:{self.serve_port}"

    @property
    def buckets(self) -> tuple[str, ...]:
        return (self.dvc_bucket, self.mlflow_bucket, self.batch_bucket)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pids.json"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"


@dataclass
class Service:
    name: str
    command: list[str]
    health_url: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None


def settings(config: StackConfig) -> dict[str, str]:
    """The environment a client of the stack needs (also written to `.stack/env`)."""
    values = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        **environment.defaults(),
        "AWS_ENDPOINT_URL_S3": config.s3_url,
        # moto answers every AWS API on one port: the stack's Secrets Manager too
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": config.s3_url,
        "MLFLOW_S3_ENDPOINT_URL": config.s3_url,
        "MLFLOW_TRACKING_URI": config.mlflow_url,
        "TEXTCLF_BATCH_INPUT": f"s3://{config.batch_bucket}/incoming",
        "TEXTCLF_BATCH_OUTPUT": f"s3://{config.batch_bucket}/scored",
        "TEXTCLF_LABELLED_INPUT": f"s3://{config.batch_bucket}/labelled",
    }
    if "prefect" in config.services:
        values["PREFECT_API_URL"] = config.prefect_api_url
    if "serve" in config.services:
        values["TEXTCLF_SERVE_URL"] = config.serve_url
    return values


def services(config: StackConfig, root: Path = Path(".")) -> list[Service]:
    bin_dir = Path(sys.executable).parent
    state = config.state_dir.resolve()
    env = settings(config)
    listed = [
        Service(
            "s3",
            [str(bin_dir / "moto_server"), "-H", config.host, "-p", str(config.s3_port)],
            f"{config.s3_url}/moto-api/",
            config.s3_port,
        ),
        Service(
            "mlflow",
            [
                str(bin_dir / "mlflow"),
                "server",
                "--host",
                config.host,
                "--port",
                str(config.mlflow_port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{state / REGISTRY_STORE}",
                "--artifacts-destination",
                f"s3://{config.mlflow_bucket}/artifacts",
            ],
            f"{config.mlflow_url}/health",
            config.mlflow_port,
            env,
        ),
        Service(
            "prefect",
            [
                str(bin_dir / "prefect"),
                "server",
                "start",
                "--host",
                config.host,
                "--port",
                str(config.prefect_port),
                "--no-ui",
                "--analytics-off",
            ],
            f"{config.prefect_api_url}/health",
            config.prefect_port,
            {
                "PREFECT_HOME": str(state / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            },
        ),
        # The online service, following the champion alias of the stack's own registry (it
        # answers /health at once and /ready once a champion exists).
        Service(
            "serve",
            [
                str(bin_dir / "textclf"),
                "serve",
                "--model",
                "champion",
                "--host",
                config.host,
                "--port",
                str(config.serve_port),
                "--params",
                str((root / "params.yaml").resolve()),
                "--root",
                str(root.resolve()),
            ],
            f"{config.serve_url}/health",
            config.serve_port,
            env,
        ),
    ]
    return [service for service in listed if service.name in config.services]


def up(config: StackConfig, root: Path = Path("."), timeout: float = 90.0) -> dict[str, str]:
    """Start every service, create the buckets, write the settings; refuse if already running."""
    running = [name for name, alive in status(config).items() if alive]
    if running:
        raise SetupError(
            config.pid_file,
            f"the stack is already running ({', '.join(running)})",
            "use it as it is, or stop it first with `textclf stack down`",
        )
    listed = services(config, root)
    missing = [service.command[0] for service in listed if not shutil.which(service.command[0])]
    if missing:
        raise SetupError(
            missing[0],
            "the local stack's servers are not installed in this environment",
            "install them with `uv sync --extra stack` (`make setup` does)",
        )
    for service in listed:
        if port_in_use(config.host, service.port):
            raise SetupError(
                f"{config.host}:{service.port}",
                f"the {service.name} port is taken by another program",
                f"stop that program, or pick another port: textclf stack up --{service.name}-port",
            )
    (config.state_dir / "logs").mkdir(parents=True, exist_ok=True)
    started: list[Service] = []
    try:
        for service in listed:
            service.pid = _spawn(service, config.state_dir / "logs" / f"{service.name}.log")
            started.append(service)
            _write_pids(config, started)
            _wait_healthy(service, config, timeout)
            if service.name == "s3":
                create_buckets(config)
    except BaseException:
        _stop(started)
        config.pid_file.unlink(missing_ok=True)
        raise
    write_settings(config, root)
    return settings(config)


def down(config: StackConfig, root: Path = Path(".")) -> list[str]:
    """Stop the services this stack started and remove the settings it wrote.

    moto's S3 keeps everything in memory, so stopping it loses every artifact the registry's
    versions point at. When this stack ran both, the registry (`mlflow.db`) goes too, and
    says so: after the next `up` the registry is empty, never full of versions that fail to
    load. A registry whose S3 was another stack's is kept."""
    if not config.pid_file.exists():
        return []
    recorded = [Service(**item) for item in json.loads(config.pid_file.read_text())]
    _stop(recorded)
    config.pid_file.unlink(missing_ok=True)
    config.env_file.unlink(missing_ok=True)
    set_dvc_remote(root, None)
    names = [service.name for service in recorded]
    registry = config.state_dir / REGISTRY_STORE
    if {"s3", "mlflow"} <= set(names) and registry.exists():
        registry.unlink()
        names.append(f"registry cleared ({registry}, with S3's artifacts)")
    return names


def status(config: StackConfig) -> dict[str, bool]:
    if not config.pid_file.exists():
        return {}
    return {item["name"]: _alive(item["pid"]) for item in json.loads(config.pid_file.read_text())}


def aws_client(config: StackConfig, service: str = "s3") -> Any:
    """A boto3 client of the stack's moto server, which answers every AWS API on one port."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=config.s3_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=ACCESS_KEY,
        region_name=REGION,
    )


def create_buckets(config: StackConfig) -> None:
    s3 = aws_client(config)
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for bucket in config.buckets:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)


def write_settings(config: StackConfig, root: Path) -> None:
    """The local stack's settings, in the two files every client of a stack reads."""
    remote = {
        "url": f"s3://{config.dvc_bucket}/dvcstore",
        "endpointurl": config.s3_url,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": ACCESS_KEY,
    }
    apply_settings(config.env_file, settings(config), root, remote)


def apply_settings(env_file: Path, env: dict[str, str], root: Path, remote: dict[str, str]) -> None:
    """Write `env` as KEY=VALUE lines (atomically) and point the DVC remote at `remote`; used for
    the local stack here and for an AWS environment by `textclf infra settings`."""
    write_text("".join(f"{key}={value}\n" for key, value in env.items()), env_file)
    set_dvc_remote(root, remote)


def set_dvc_remote(root: Path, values: dict[str, str] | None) -> None:
    """Point the DVC remote somewhere in config.local (never committed), or undo that (None)."""
    if not (root / ".dvc").is_dir():
        return
    from dvc.config import Config

    keys = ("endpointurl", "access_key_id", "secret_access_key", "url", "region")
    with Config(dvc_dir=str(root / ".dvc")).edit("local") as local:
        remote = local.setdefault("remote", {}).setdefault(DVC_REMOTE, {})
        for key in keys:
            remote.pop(key, None)
        remote.update(values or {})
        if not remote:
            local["remote"].pop(DVC_REMOTE)


def _spawn(service: Service, log: Path) -> int:
    with open(log, "ab") as output:
        process = subprocess.Popen(
            service.command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **service.env},
            start_new_session=True,  # its own process group: `down` stops its workers too
        )
    return process.pid


def _wait_healthy(service: Service, config: StackConfig, timeout: float) -> None:
    log = config.state_dir / "logs" / f"{service.name}.log"
    try:
        wait_until_healthy(
            service.health_url,
            timeout,
            name=f"{service.name} server",
            fix=f"read {log}",
            still_starting=lambda: service.pid is not None and _alive(service.pid),
        )
    except ServiceUnavailable as error:
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        raise ServiceUnavailable(
            error.path, f"{error.problem}; the end of its log:\n{tail}", error.fix
        ) from None


def _stop(listed: list[Service], grace: float = 15.0) -> None:
    for service in reversed(listed):
        if service.pid is not None and _alive(service.pid):
            _signal_group(service.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for service in listed:
        while service.pid is not None and _alive(service.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if service.pid is not None and _alive(service.pid):
            _signal_group(service.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _write_pids(config: StackConfig, started: list[Service]) -> None:
    write_json([asdict(service) for service in started], config.pid_file)
