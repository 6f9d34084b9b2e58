"""The MLflow model registry's names and lookups: model URIs, the aliases this project uses
(`challenger`, `champion`), which version an alias points at, and registering a run's model.

A lookup that fails for any reason other than "there is no such alias" is ServiceUnavailable: a
registry hiccup must never look like an empty registry. mlflow is imported inside the functions:
it takes seconds to import.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from textclf.registry.tracking import mlflow_error

CHAMPION = "champion"
CHALLENGER = "challenger"
ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")

log = logging.getLogger(__name__)


def alias_uri(name: str, alias: str) -> str:
    return f"models:/{name}@{alias}"


def mlflow_client() -> Any:
    import mlflow

    return mlflow.MlflowClient()


def version_by_alias(name: str, alias: str) -> Any | None:
    """The version `alias` points at; None only when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import (
        INVALID_PARAMETER_VALUE,
        RESOURCE_DOES_NOT_EXIST,
        ErrorCode,
    )

    missing = {ErrorCode.Name(RESOURCE_DOES_NOT_EXIST), ErrorCode.Name(INVALID_PARAMETER_VALUE)}
    try:
        return mlflow_client().get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in missing and "not found" in error.message:
            return None
        raise mlflow_error(error, alias_uri(name, alias)) from error
    except Exception as error:
        raise mlflow_error(error, alias_uri(name, alias)) from error


def register(
    run: dict[str, str], name: str, commit: dict[str, str], check: Callable[[str], Any]
) -> dict[str, str]:
    """Register a logged run's model under `name` as the challenger; the version carries the
    run's data hashes and `commit` (git_commit, and how it was established) as tags. `check`
    loads the new version's URI back before the alias moves: a version whose artifacts cannot
    be read never becomes the challenger."""
    import mlflow

    registry = mlflow_client()
    try:
        tags = registry.get_run(run["run_id"]).data.tags
        tags = {key: value for key, value in tags.items() if not key.startswith("mlflow.")}
        version = mlflow.register_model(run["model_uri"], name, tags={**tags, **commit})
    except Exception as error:
        raise mlflow_error(error, run["model_uri"]) from error
    check(f"models:/{name}/{version.version}")
    try:
        registry.set_registered_model_alias(name, CHALLENGER, version.version)
    except Exception as error:
        raise mlflow_error(error, run["model_uri"]) from error
    log.info("registered %s version %s as %s", name, version.version, CHALLENGER)
    return {"name": name, "version": str(version.version), "alias": CHALLENGER, **run, **commit}
