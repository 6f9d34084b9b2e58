"""The MLflow model registry: register a run's model as `challenger`; promote it to `champion`
only when it beats the champion on the same evaluation data by a configured margin.

A champion lookup that fails for any reason other than "there is no champion yet" stops the
promotion (ServiceUnavailable): a registry hiccup must never look like an empty registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from textclf.core.errors import DataError, ParamsError
from textclf.ml.metrics import HIGHER_IS_BETTER, compute_metrics
from textclf.ops.tracking import mlflow_error

if TYPE_CHECKING:
    from textclf.ops.models import LoadedModel

CHAMPION = "champion"
CHALLENGER = "challenger"

log = logging.getLogger(__name__)


@dataclass
class Decision:
    promoted: bool
    reason: str
    metric: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None = None
    champion_score: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def alias_uri(name: str, alias: str) -> str:
    return f"models:/{name}@{alias}"


def client() -> Any:
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
        return client().get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in missing and "not found" in error.message:
            return None
        raise mlflow_error(error, alias_uri(name, alias)) from error
    except Exception as error:
        raise mlflow_error(error, alias_uri(name, alias)) from error


def register(run: dict[str, str], name: str, commit: dict[str, str]) -> dict[str, str]:
    """Register a logged run's model under `name` as the challenger; the version carries the
    run's data hashes and `commit` (git_commit, and how it was established) as tags."""
    import mlflow

    registry = client()
    try:
        tags = registry.get_run(run["run_id"]).data.tags
        tags = {key: value for key, value in tags.items() if not key.startswith("mlflow.")}
        version = mlflow.register_model(run["model_uri"], name, tags={**tags, **commit})
        registry.set_registered_model_alias(name, CHALLENGER, version.version)
    except Exception as error:
        raise mlflow_error(error, run["model_uri"]) from error
    log.info("registered %s version %s as %s", name, version.version, CHALLENGER)
    return {"name": name, "version": str(version.version), "alias": CHALLENGER, **run, **commit}


def promote(
    name: str,
    test: pd.DataFrame,
    metric: str,
    min_improvement: float,
    releasable: Callable[[Any], str | None] = lambda version: None,
    behaves: Callable[[LoadedModel], str | None] = lambda model: None,
) -> Decision:
    """Score challenger and champion on `test`; move `champion` if the challenger wins by the
    margin. The decision and its reason are recorded as tags on the challenger version.

    `releasable(version)` says why a version may not become champion (e.g. its commit is not
    on the git remote), or None; `behaves(model)` says why the loaded challenger fails a
    quality gate (behaviour tests), or None. Either refuses the promotion, whatever the metric."""
    if metric not in HIGHER_IS_BETTER:
        raise ParamsError(
            "registry.metric",
            f"registry.metric is {metric!r}",
            f"set it to one of {', '.join(HIGHER_IS_BETTER)}",
        )
    challenger = version_by_alias(name, CHALLENGER)
    if challenger is None:
        raise DataError(
            alias_uri(name, CHALLENGER),
            "there is no challenger to promote",
            "register one first with `textclf register`",
        )
    blocked = releasable(challenger)
    if blocked is not None:
        reason = f"not promoted: {blocked}"
        decision = Decision(False, reason, metric, str(challenger.version), float("nan"))
        return _record_decision(name, challenger, decision)
    model = load_version(name, str(challenger.version))
    challenger_score = score(model, test, metric)
    misbehaves = behaves(model)
    if misbehaves is not None:
        reason = f"not promoted: {misbehaves}"
        decision = Decision(False, reason, metric, str(challenger.version), challenger_score)
        return _record_decision(name, challenger, decision)
    champion = version_by_alias(name, CHAMPION)
    decision = Decision(False, "", metric, str(challenger.version), challenger_score)
    if champion is None:
        decision.promoted = True
        decision.reason = f"no champion yet; version {challenger.version} becomes champion"
    elif champion.version == challenger.version:
        decision.champion_version, decision.champion_score = str(champion.version), challenger_score
        decision.reason = f"version {challenger.version} is already the champion"
    else:
        champion_score = score(load_version(name, str(champion.version)), test, metric)
        decision.champion_version, decision.champion_score = str(champion.version), champion_score
        gain = challenger_score - champion_score
        if not HIGHER_IS_BETTER[metric]:
            gain = -gain
        decision.promoted = gain >= min_improvement
        verdict = "promoted" if decision.promoted else "not promoted"
        comparison = "at least" if decision.promoted else "less than"
        decision.reason = (
            f"{verdict}: challenger v{challenger.version} {metric}={challenger_score:.4f} vs "
            f"champion v{champion.version} {metric}={champion_score:.4f} on {len(test)} rows; "
            f"improvement {gain:+.4f} is {comparison} the required {min_improvement:.4f}"
        )
    return _record_decision(name, challenger, decision)


def _record_decision(name: str, challenger: Any, decision: Decision) -> Decision:
    registry = client()
    try:
        if decision.promoted:
            registry.set_registered_model_alias(name, CHAMPION, challenger.version)
        registry.set_model_version_tag(
            name, challenger.version, "promotion.decision", str(decision.promoted)
        )
        registry.set_model_version_tag(
            name, challenger.version, "promotion.reason", decision.reason
        )
    except Exception as error:
        raise mlflow_error(error, alias_uri(name, CHAMPION)) from error
    log.info("%s", decision.reason)
    return decision


def load_version(name: str, version: str) -> LoadedModel:
    from textclf.ops.models import load_model

    return load_model(f"models:/{name}/{version}")


def score(model: LoadedModel, test: pd.DataFrame, metric: str) -> float:
    """`metric` of a model on `test`, scored as evaluation scores it."""
    metrics = compute_metrics(test["label"].astype(str).to_numpy(), model.score(test["text"]))
    if metric not in metrics:
        raise DataError(
            model.uri, f"{metric} is undefined on this evaluation data", "choose another metric"
        )
    return float(metrics[metric])
