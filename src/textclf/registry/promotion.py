"""The promotion rule: a registered challenger becomes `champion` only when it beats the
champion on the same evaluation rows by a significant margin (one paired comparison, shared with
the pull-request report: ml/comparison.py), its commit can be given back (it is on the git
remote, and merged when the params ask for that), and it passes the behaviour tests.

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
from textclf.ml.comparison import PairedComparison, compare_paired
from textclf.ml.metrics import compute_metrics
from textclf.ml.persist import LoadedModel
from textclf.ml.scoring import Scores
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
    comparison: dict | None = None  # ml/comparison.py's PairedComparison: test, rows, interval, p

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
        params.registry.confidence,
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
    confidence: float = 0.95,
) -> Decision:
    """Score challenger and champion on the same `test` rows; move `champion` only when the
    challenger's improvement is significant at `confidence` and its interval's lower end is at
    least `min_improvement` (ml/comparison.py). The decision, its reason and its statistics are
    recorded as tags on the challenger version.

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
    actual = test["label"].astype(str).to_numpy()
    challenger_scores = model.score(test["text"])
    challenger_score = metric_of(model, actual, challenger_scores, metric)
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
        held = load_version(name, str(champion.version))
        held_scores = held.score(test["text"])
        decision.champion_version = str(champion.version)
        decision.champion_score = metric_of(held, actual, held_scores, metric)
        comparison = compare_paired(actual, held_scores, challenger_scores, metric, confidence)
        decision.promoted = comparison.wins(min_improvement)
        decision.comparison = comparison.as_dict()
        decision.reason = (
            f"{'promoted' if decision.promoted else 'not promoted'}: challenger "
            f"v{challenger.version} vs champion v{champion.version}: {comparison.summary()}; "
            + _verdict(comparison, min_improvement)
        )
    return _record_decision(name, challenger, decision)


def _verdict(comparison: PairedComparison, min_improvement: float) -> str:
    level = f"at the {comparison.confidence:.0%} level"
    if not comparison.significant:
        return f"the difference is not significant {level}"
    if comparison.improvement <= 0:
        return f"the challenger is significantly worse {level}"
    if comparison.low < min_improvement:
        return (
            f"significant {level}, but the interval's lower end {comparison.low:+.4f} is under "
            f"the required {min_improvement:+.4f} (registry.min_improvement)"
        )
    return f"significant {level}, and the lower end is at least {min_improvement:+.4f}"


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
        for key, value in (decision.comparison or {}).items():
            registry.set_model_version_tag(name, challenger.version, f"promotion.{key}", value)
    except Exception as error:
        raise mlflow_error(error, alias_uri(name, CHAMPION)) from error
    log.info("%s", decision.reason)
    return decision


def load_version(name: str, version: str) -> LoadedModel:
    return load_model(f"models:/{name}/{version}")


def metric_of(model: LoadedModel, actual: Any, scores: Scores, metric: str) -> float:
    """`metric` of a model's scores of the evaluation rows, computed as evaluation computes it."""
    metrics = compute_metrics(actual, scores)
    if metric not in metrics:
        raise DataError(
            model.uri, f"{metric} is undefined on this evaluation data", "choose another metric"
        )
    return float(metrics[metric])
