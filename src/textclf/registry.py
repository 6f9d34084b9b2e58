"""The MLflow model registry: register a run's model as `challenger`; promote it to `champion`
only when it beats the champion on the same evaluation data by a configured margin."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from textclf.errors import DataError

CHAMPION = "champion"
CHALLENGER = "challenger"
HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "roc_auc": True, "log_loss": False}


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


def register(run: dict[str, str], name: str) -> dict[str, str]:
    """Register a logged run's model under `name` as the challenger; the version carries the
    run's git commit and data hashes as tags."""
    import mlflow

    mlflow.set_tracking_uri(run["tracking_uri"])
    client = mlflow.MlflowClient()
    tags = client.get_run(run["run_id"]).data.tags
    version = mlflow.register_model(
        run["model_uri"],
        name,
        tags={key: value for key, value in tags.items() if not key.startswith("mlflow.")},
    )
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return {"name": name, "version": str(version.version), "alias": CHALLENGER, **run}


def promote(
    name: str, test: pd.DataFrame, metric: str, min_improvement: float, tracking_uri: str
) -> Decision:
    """Score challenger and champion on `test`; move `champion` if the challenger wins by the
    margin. The decision and its reason are recorded as tags on the challenger version."""
    import mlflow

    if metric not in HIGHER_IS_BETTER:
        raise DataError(
            "params.yaml",
            f"registry.metric is {metric!r}",
            f"set it to one of {', '.join(HIGHER_IS_BETTER)}",
            field="registry.metric",
        )
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    challenger = version_by_alias(client, name, CHALLENGER)
    if challenger is None:
        raise DataError(
            f"models:/{name}@{CHALLENGER}",
            "there is no challenger to promote",
            "register one first with `textclf register`",
        )
    champion = version_by_alias(client, name, CHAMPION)
    challenger_score = score(f"models:/{name}/{challenger.version}", test, metric)
    decision = Decision(False, "", metric, str(challenger.version), challenger_score)
    if champion is None:
        decision.promoted = True
        decision.reason = f"no champion yet; version {challenger.version} becomes champion"
    elif champion.version == challenger.version:
        decision.champion_version, decision.champion_score = str(champion.version), challenger_score
        decision.reason = f"version {challenger.version} is already the champion"
    else:
        champion_score = score(f"models:/{name}/{champion.version}", test, metric)
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
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, challenger.version)
    client.set_model_version_tag(
        name, challenger.version, "promotion.decision", str(decision.promoted)
    )
    client.set_model_version_tag(name, challenger.version, "promotion.reason", decision.reason)
    return decision


def score(model_uri: str, test: pd.DataFrame, metric: str) -> float:
    import mlflow

    from textclf.evaluate import compute_metrics

    model = mlflow.sklearn.load_model(model_uri)
    proba = model.predict_proba(test["text"].tolist())
    classes = np.asarray(model.classes_).astype(str)
    metrics = compute_metrics(test["label"].astype(str).to_numpy(), proba, classes)
    if metric not in metrics:
        raise DataError(
            model_uri, f"{metric} is undefined on this evaluation data", "choose another metric"
        )
    return float(metrics[metric])


def version_by_alias(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
