"""The promotion rule: a registered challenger becomes `champion` only when it beats the
champion on the same evaluation data by a configured margin, its commit can be given back (it is
on the git remote, and merged when the params ask for that), and it passes the behaviour tests.

The decision and its reason are recorded as tags on the challenger version. A champion lookup
that fails for any reason other than "there is no champion yet" stops the promotion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from textclf.core import gitrepo
from textclf.core.errors import DataError
from textclf.core.files import file_digest
from textclf.core.layout import Layout
from textclf.core.params import Params
from textclf.core.tables import read_stage_output
from textclf.ml.behaviour import behaviour_report, gate_problem
from textclf.ml.metrics import HIGHER_IS_BETTER, compute_metrics
from textclf.ml.persist import LoadedModel
from textclf.registry.models import load_model
from textclf.registry.tracking import connect, load_run_record, mlflow_error
from textclf.registry.versions import (
    CHALLENGER,
    CHAMPION,
    alias_uri,
    mlflow_client,
    register,
    version_by_alias,
)

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


def register_tracked(
    params: Params, layout: Layout, name: str | None = None, allow_uncommitted: bool = False
) -> dict:
    """Register the tracked model, tagged with the commit whose dvc.lock names it."""
    record = load_run_record(layout.run_record)
    uri = connect(layout.root)
    if record["tracking_uri"] != uri:
        raise DataError(
            layout.run_record,
            f"the run was tracked to {record['tracking_uri']}, but tracking now goes to {uri}",
            "track the model where it will be registered: "
            "`dvc repro --force --single-item track`",
        )
    model_md5 = file_digest(layout.model)
    commit = gitrepo.commit_for_model(layout.root, model_md5)
    if commit is None and not allow_uncommitted:
        raise DataError(
            layout.root / "dvc.lock",
            f"the committed dvc.lock (HEAD) does not name this model (md5 {model_md5}), so no "
            "commit could give it back",
            "commit the pipeline's results first (git add dvc.lock params.yaml reports data "
            "&& git commit), then register; for a throwaway experiment, --allow-uncommitted",
        )
    tags = {"git_commit": commit or gitrepo.UNCOMMITTED, "model_md5": model_md5}
    if commit is None:
        tags["registered_uncommitted"] = "true"
    return register(record, name or params.registry.model_name, tags, check=load_model)


def promote_challenger(params: Params, layout: Layout, name: str | None = None) -> dict:
    """The promotion rule, for a challenger whose commit is on the git remote (and merged into
    retrain.base_branch when retrain.promotion is `merged`) and that passes the behaviour
    tests (run again here, on the registered model itself)."""
    connect(layout.root)
    test = read_stage_output(layout.test_split, "prepare")
    decision = promote(
        name or params.registry.model_name,
        test,
        params.registry.metric,
        params.registry.min_improvement,
        lambda version: release_blocker(version.tags, params, layout.root),
        lambda model: gate_problem(
            behaviour_report(model, test["text"].tolist(), params, layout.root)
        ),
    )
    return decision.as_dict()


def release_blocker(tags: dict[str, str], params: Params, root: Path) -> str | None:
    """Why a registered version may not become champion yet, or None."""
    commit = tags.get("git_commit", gitrepo.UNCOMMITTED)
    if commit in ("", gitrepo.UNCOMMITTED, "unknown"):
        return "it was registered without a commit (--allow-uncommitted)"
    if not gitrepo.has_remote(root):
        log.warning("no git remote 'origin' here: cannot check that %s is pushed", commit)
        return None
    if not gitrepo.on_remote(root, commit):
        return f"its commit {commit[:12]} is not on the git remote"
    base = params.retrain.base_branch
    if params.retrain.promotion == "merged" and not gitrepo.merged(root, commit, base):
        return f"its commit {commit[:12]} is not merged into {base} yet (retrain.promotion)"
    return None


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
    registry = mlflow_client()
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
    return load_model(f"models:/{name}/{version}")


def score(model: LoadedModel, test: pd.DataFrame, metric: str) -> float:
    """`metric` of a model on `test`, scored as evaluation scores it."""
    metrics = compute_metrics(test["label"].astype(str).to_numpy(), model.score(test["text"]))
    if metric not in metrics:
        raise DataError(
            model.uri, f"{metric} is undefined on this evaluation data", "choose another metric"
        )
    return float(metrics[metric])
