"""Where MLflow tracking goes, resolved in one place: MLFLOW_TRACKING_URI when it is set, else a
SQLite store in the repository (works offline). `connect` checks that a tracking server answers
before anything is computed for it, so a down server fails a run in seconds, not after the fit.

mlflow is imported inside the functions: it takes seconds to import.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from textclf.core.errors import DataError, ServiceUnavailable
from textclf.core.files import read_json
from textclf.core.health import health_problem

TRACKING_ENV = "MLFLOW_TRACKING_URI"
LOCAL_STORE = "mlflow.db"
LOCAL_ARTIFACTS = "mlartifacts"
SERVER_FIX = (
    "start it (`textclf stack up` for the local stack), unset MLFLOW_TRACKING_URI to track "
    "to ./mlflow.db, or set mlflow.fallback_to_local: true in the params file"
)

log = logging.getLogger(__name__)


def tracking_uri(root: Path = Path(".")) -> str:
    return os.environ.get(TRACKING_ENV) or local_tracking_uri(root)


def local_tracking_uri(root: Path) -> str:
    return f"sqlite:///{(root / LOCAL_STORE).resolve()}"


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def connect(root: Path = Path("."), *, fallback_to_local: bool = False) -> str:
    """Point mlflow at the tracking URI, after checking that its server answers; with
    `fallback_to_local`, a server that does not answer means the local store instead."""
    uri = tracking_uri(root)
    problem = health_problem(f"{uri.rstrip('/')}/health", timeout=5) if is_server(uri) else None
    if problem is not None:
        if not fallback_to_local:
            raise ServiceUnavailable(uri, f"the MLflow tracking server {problem}", SERVER_FIX)
        local = local_tracking_uri(root)
        log.warning(
            "MLflow tracking server %s %s; tracking to %s instead "
            "(mlflow.fallback_to_local is true)",
            uri,
            problem,
            local,
        )
        uri = local
    import mlflow

    mlflow.set_tracking_uri(uri)
    return uri


def experiment_id(name: str, uri: str) -> str:
    """The id of experiment `name` in the store `connect` pointed mlflow at, created when
    missing. A SQLite store keeps its artifacts in `mlartifacts/` beside the database file,
    whatever directory the command ran in: a run made in a retraining's temporary tree must
    not leave its artifacts in the tree, which is deleted."""
    import mlflow

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        location = (database.parent / LOCAL_ARTIFACTS).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def mlflow_error(error: Exception, where: str) -> Exception:
    """An MLflow client error as the project's error: a server that failed or did not answer is
    ServiceUnavailable; a request the server refused (a name or id that does not exist) is a
    DataError."""
    from mlflow.exceptions import MlflowException

    if isinstance(error, MlflowException) and error.get_http_status_code() < 500:
        return DataError(
            where, f"MLflow refused it ({error.message})", "check the model name, version or run"
        )
    return ServiceUnavailable(
        where,
        f"MLflow did not answer ({type(error).__name__}: {error})",
        "retry when the tracking server is up",
    )


def load_run_record(path: Path) -> dict[str, str]:
    if not path.exists():
        raise DataError(path, "no tracked run recorded", "run `dvc repro` (the track stage) first")
    record = read_json(path)
    if "run_id" not in record:
        raise DataError(path, "tracking was disabled for this run", "set mlflow.enabled: true")
    return record
