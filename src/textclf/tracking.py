"""MLflow tracking: log a pipeline run (params, metrics, plots, model, git commit, data hash).

mlflow is imported inside the functions: it takes seconds to import and only this module needs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import textclf
from textclf.errors import DataError
from textclf.files import read_json
from textclf.params import Params

TRACKING_ENV = "MLFLOW_TRACKING_URI"
LOCAL_STORE = "mlflow.db"
LOCAL_ARTIFACTS = "mlartifacts"
MODEL_NAME = "model"


@dataclass
class RunInputs:
    """What a run logs, gathered by the stage from the pipeline's outputs."""

    params: Params
    model: Any
    metrics: dict[str, Any]
    train_stats: dict[str, Any]
    example_texts: list[str]
    data_hashes: dict[str, str]
    artifacts: dict[str, Path]  # artifact folder -> file or directory


def tracking_uri(root: Path) -> str:
    """MLFLOW_TRACKING_URI when set, else a SQLite store in the repository (works offline)."""
    return os.environ.get(TRACKING_ENV) or local_tracking_uri(root)


def local_tracking_uri(root: Path) -> str:
    return f"sqlite:///{(root / LOCAL_STORE).resolve()}"


def reachable_tracking_uri(root: Path, fallback_to_local: bool) -> str:
    """The tracking URI to use, after checking that a tracking server answers.

    Called before training, so a down server fails the run in seconds, not after the fit.
    """
    uri = tracking_uri(root)
    if not uri.startswith(("http://", "https://")):
        return uri
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
            if response.status == 200:
                return uri
            problem = f"answered HTTP {response.status}"
    except (urllib.error.URLError, OSError) as error:
        problem = f"is not reachable ({getattr(error, 'reason', error)})"
    if fallback_to_local:
        local = local_tracking_uri(root)
        print(
            f"warning: MLflow tracking server {uri} {problem}; tracking to {local} instead "
            "(mlflow.fallback_to_local is true)",
            file=sys.stderr,
        )
        return local
    raise DataError(
        uri,
        f"the MLflow tracking server {problem}",
        "start it (`textclf stack up` for the local stack), unset MLFLOW_TRACKING_URI to track "
        "to ./mlflow.db, or set mlflow.fallback_to_local: true in params.yaml",
    )


def log_run(inputs: RunInputs, root: Path) -> dict[str, str]:
    uri = reachable_tracking_uri(root, inputs.params.mlflow.fallback_to_local)
    # Without these, a server that dies mid-run is retried for many minutes before failing.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(uri)
    experiment_id = _experiment_id(mlflow, inputs.params.mlflow.experiment, uri, root)
    commit, dirty = git_commit(root)
    tags = {
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "dataset": inputs.params.dataset.name,
        "dataset_source": inputs.params.dataset.source,
        **{f"data_md5.{name}": digest for name, digest in inputs.data_hashes.items()},
    }
    run_name = f"{inputs.params.dataset.name}-{commit[:8]}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params(dict(flatten(inputs.params.as_dict())))
        numeric = {**inputs.metrics, "train": _numbers(inputs.train_stats)}
        mlflow.log_metrics({_metric_key(k): v for k, v in flatten(numeric) if _is_number(v)})
        for folder, path in inputs.artifacts.items():
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=folder)
            elif path.exists():
                mlflow.log_artifact(str(path), artifact_path=folder)
        example = pd.DataFrame({"text": inputs.example_texts})
        logged = mlflow.sklearn.log_model(
            inputs.model,
            name=MODEL_NAME,
            signature=infer_signature(example, inputs.model.predict(example)),
            input_example=example,
            code_paths=[str(Path(textclf.__file__).parent)],
            serialization_format="cloudpickle",
            pip_requirements=_requirements(),
            tags=tags,
        )
    return {
        "tracking_uri": uri,
        "experiment_id": experiment_id,
        "run_id": run.info.run_id,
        "model_uri": f"runs:/{run.info.run_id}/{MODEL_NAME}",
        "logged_model_uri": logged.model_uri,
        "git_commit": commit,
    }


def _experiment_id(mlflow: Any, name: str, uri: str, root: Path) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if uri.startswith("sqlite:"):
        # Keep local artifacts beside the store, not in whatever directory the command ran from.
        location = (root / LOCAL_ARTIFACTS).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def git_commit(root: Path) -> tuple[str, bool]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown", True


def flatten(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, f"{name}.")
        else:
            yield name, value


def _metric_key(key: str) -> str:
    return "".join(char if char.isalnum() or char in "_-./ " else "_" for char in key)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(stats: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stats.items() if _is_number(value)}


def _requirements() -> list[str]:
    from importlib.metadata import version

    packages = ["scikit-learn", "scipy", "numpy", "pandas", "cloudpickle", "mlflow"]
    return [f"{package}=={version(package)}" for package in packages]


def load_run_record(path: Path) -> dict[str, str]:
    if not path.exists():
        raise DataError(path, "no tracked run recorded", "run `dvc repro` (the track stage) first")
    record = read_json(path)
    if "run_id" not in record:
        raise DataError(path, "tracking was disabled for this run", "set mlflow.enabled: true")
    return record
