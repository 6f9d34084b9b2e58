"""Prefect flows: thin layers over `batch`, `monitor` and `retrain`, deployed by prefect.yaml.

- batch-predict: score new input files with the champion model, then monitor each scored file;
  a drift verdict starts the retrain deployment.
- monitor: an Evidently report for one scored batch against the training data.
- retrain: refresh data, reproduce, register, promote, push.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger, task

from textclf import batch as batch_lib
from textclf.errors import DataError
from textclf.params import load_params

RETRAIN_DEPLOYMENT = "retrain/retrain"


def _transient(task_, task_run, state) -> bool:
    """Retry storage hiccups, never bad input: a corrupt file stays corrupt."""
    try:
        state.result()
    except DataError:
        return False
    except Exception:
        return True
    return False


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_transient)
def load_model_task(name: str) -> batch_lib.ScoringModel:
    return batch_lib.load_champion(name)


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_transient)
def score_task(
    model: batch_lib.ScoringModel, input_location: str, output_location: str, params_path: str
) -> batch_lib.BatchResult:
    return batch_lib.run_batch(
        model, input_location, output_location, load_params(params_path).batch
    )


@task
def monitor_task(
    model: batch_lib.ScoringModel, input_file: str, scored_file: str, params_path: str
) -> dict:
    from textclf.monitor import monitor_batch

    return monitor_batch(model, input_file, scored_file, load_params(params_path)).as_dict()


@flow(name="batch-predict")
def batch_predict(
    input_location: str | None = None,
    output_location: str | None = None,
    params_path: str = "params.yaml",
    monitor: bool = True,
    retrain_on_drift: bool = True,
) -> dict:
    logger = get_run_logger()
    params = load_params(params_path)
    source = input_location or params.batch.input
    target = output_location or params.batch.output
    model = load_model_task(params.registry.model_name)
    result = score_task(model, source, target, params_path)
    logger.info(
        "scored %d file(s), skipped %d already scored, %d failed",
        len(result.scored),
        len(result.skipped),
        len(result.failed),
    )
    summary = result.as_dict()
    if monitor:
        summary["monitoring"] = [
            {
                "input": item["input"],
                **monitor_task(
                    model, f"{source.rstrip('/')}/{item['input']}", item["output"], params_path
                ),
            }
            for item in result.scored
        ]
        if retrain_on_drift and any(item["drift"] for item in summary["monitoring"]):
            summary["retrain"] = trigger_retrain()
    for failure in result.failed:
        logger.error("left unscored: %s: %s", failure["input"], failure["error"])
    if result.failed:
        raise DataError(
            source,
            f"{len(result.failed)} input file(s) could not be scored: "
            + "; ".join(item["input"] for item in result.failed),
            "see the errors above; the other files were scored and recorded in the manifest",
        )
    return summary


@flow(name="monitor")
def monitor_flow(
    input_file: str,
    scored_file: str,
    params_path: str = "params.yaml",
    retrain_on_drift: bool = True,
) -> dict:
    params = load_params(params_path)
    model = load_model_task(params.registry.model_name)
    verdict = monitor_task(model, input_file, scored_file, params_path)
    if verdict["drift"] and retrain_on_drift:
        verdict["retrain"] = trigger_retrain()
    return verdict


@flow(name="retrain")
def retrain_flow(root: str = ".") -> dict:
    from textclf.retrain import run_retrain

    summary = run_retrain(Path(root))
    get_run_logger().info("retrained: %s", summary["reason"])
    return summary


def trigger_retrain() -> str:
    """Start the retrain deployment without waiting for it; returns its flow-run id."""
    from prefect.deployments import run_deployment

    name = os.environ.get("TEXTCLF_RETRAIN_DEPLOYMENT", RETRAIN_DEPLOYMENT)
    run = run_deployment(name, timeout=0)
    get_run_logger().warning("drift detected: started %s (flow run %s)", name, run.id)
    return str(run.id)
