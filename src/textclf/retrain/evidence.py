"""Every retrain leaves its evidence: success or failure, one MLflow run in the experiment
`<registry.model_name>-retrains`, found from the line the retrain prints at its end.

The run is tagged with the reason, the outcome, the failing step (if any), the deliveries and
the branch and version it made. It holds every step's output (`steps.log`), the summary, and
what the retraining tree held when it closed: the challenger's behaviour report, metrics and
model card, and the pull-request report body, which is kept whether or not a pull request was
opened. The tree itself is deleted after that, so nothing in the checkout is mistaken for it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from textclf.core.errors import TextclfError
from textclf.core.files import write_json, write_text
from textclf.registry.tracking import connect, experiment_id

log = logging.getLogger(__name__)

# What the retraining tree holds of the challenger, copied into the run when present.
TREE_REPORTS = ("reports/behaviour.json", "reports/metrics.json", "reports/model_card.md")
FAILED_STEP_TAG = "retrain.failed_step"


def keep_evidence(
    checkout: Path,
    tree: Path,
    model_name: str,
    summary: dict,
    step_log: str,
    report: str | None,
    failure: BaseException | None,
) -> str | None:
    """Log the retrain as a run; returns where it is ("MLflow run <id> in experiment <name> at
    <uri>"), or None when it could not be recorded (said in the log, never raised: the
    retrain's own outcome or error is what the caller must see)."""
    try:
        import mlflow

        uri = connect(checkout)
        name = f"{model_name}-retrains"
        with (
            mlflow.start_run(
                experiment_id=experiment_id(name, uri), tags=_tags(summary, failure)
            ) as run,
            tempfile.TemporaryDirectory(prefix="textclf-evidence-") as folder,
        ):
            _write_files(Path(folder), tree, summary, step_log, report, failure)
            mlflow.log_artifacts(folder)
            seconds = sum(step.get("seconds", 0) for step in summary.get("steps", []))
            mlflow.log_metric("seconds", seconds)
            if "labelled" in summary:
                mlflow.log_metric("labelled_rows", summary["labelled"].get("rows", 0))
    except Exception as error:  # evidence must never mask the retrain's own result
        log.warning("the retrain's evidence could not be recorded in MLflow: %s", error)
        return None
    where = f"MLflow run {run.info.run_id} in experiment {name} at {uri}"
    log.info("evidence: %s", where)
    return where


def _write_files(
    files: Path,
    tree: Path,
    summary: dict,
    step_log: str,
    report: str | None,
    failure: BaseException | None,
) -> None:
    write_text(step_log, files / "steps.log")
    write_json({**summary, "error": str(failure) if failure else None}, files / "summary.json")
    if report is not None:
        write_text(report, files / "pull-request.md")
    for relative in TREE_REPORTS:
        if (tree / relative).is_file():
            (files / relative).parent.mkdir(parents=True, exist_ok=True)
            (files / relative).write_bytes((tree / relative).read_bytes())


def _tags(summary: dict, failure: BaseException | None) -> dict[str, str]:
    added = summary.get("labelled", {}).get("added", [])
    tags = {
        "retrain.reason": str(summary.get("reason_started", "")),
        "retrain.outcome": "failed" if failure else "succeeded",
        "retrain.summary": str(summary.get("outcome", failure or ""))[:4000],
        "retrain.deliveries": ",".join(item["fingerprint"][:12] for item in added) or "none",
        "retrain.base_commit": str(summary.get("base_commit", "")),
    }
    if failure is not None:
        tags[FAILED_STEP_TAG] = str(summary.get("failed_step") or "outside a step")
        tags["retrain.error"] = (
            str(failure) if isinstance(failure, TextclfError) else repr(failure)
        )[:4000]
    for key in ("branch", "commit"):
        if key in summary:
            tags[f"retrain.{key}"] = str(summary[key])
    if "register" in summary:
        tags["retrain.registered_version"] = str(summary["register"].get("version"))
    if "promote" in summary:
        tags["retrain.promoted"] = str(summary["promote"].get("promoted"))
    return tags
