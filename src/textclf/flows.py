"""Prefect flows: thin layers over `batch`, `monitor` and `retrain`, deployed by prefect.yaml.

- batch-predict: score new input files with the champion model, then monitor each scored file;
  a drift verdict starts the retrain deployment.
- monitor: an Evidently report for one scored batch against the training data.
- retrain: fold new labelled data in, reproduce, commit, push, register, promote, open a PR.

Each flow reads the params file once and hands the typed sections to its tasks. Tasks retry a
service that did not answer, never bad input (`errors.retryable`). The library's log records
(the `textclf` logger) go to the flow run's log too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prefect import flow, get_run_logger, task

from textclf.batch.engines import score_batch
from textclf.batch.job import BatchJob, BatchResult, new_run_id
from textclf.core import environment
from textclf.core.errors import DataError, retryable
from textclf.core.layout import Layout
from textclf.core.logs import ROOT
from textclf.core.params import Params
from textclf.ml.params import load_params
from textclf.ml.persist import LoadedModel
from textclf.monitor.drift import monitor_batch
from textclf.registry.models import load_model
from textclf.registry.versions import CHAMPION, alias_uri
from textclf.retrain.loop import run_retrain

RETRAIN_DEPLOYMENT = "retrain/retrain"


def forward_library_logs() -> None:
    """Send the `textclf` logger's records to the flow run's log, as Prefect does for the
    loggers named in PREFECT_LOGGING_EXTRA_LOGGERS (its `prefect.extra` handlers)."""
    library = logging.getLogger(ROOT)
    for handler in logging.getLogger("prefect.extra").handlers:
        if handler not in library.handlers:
            library.addHandler(handler)
    library.setLevel(logging.INFO)


def _retry_condition(task_, task_run, state) -> bool:
    try:
        state.result()
    except BaseException as error:
        return retryable(error)
    return False


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_condition)
def load_model_task(name: str) -> LoadedModel:
    return load_model(alias_uri(name, CHAMPION))


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_condition)
def score_task(job: BatchJob) -> BatchResult:
    """On any engine (batch.engine); a retry reuses the job's `run_id`, so it never starts a
    second EMR job run for the same flow run."""
    return score_batch(job)


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_condition)
def monitor_task(model: LoadedModel, input_file: str, scored_file: str, params: Params) -> dict:
    reference = Layout(Path(params.source).parent).test_split
    return monitor_batch(model, input_file, scored_file, params, reference).as_dict()


def _start_run() -> None:
    # No handler of our own here: the records reach the console through Prefect's root handler
    # and the flow run's log through its API handler; one more would print each line twice.
    environment.apply_to_process()
    forward_library_logs()


@flow(name="batch-predict")
def batch_predict(
    input_location: str | None = None,
    output_location: str | None = None,
    params_path: str = "params.yaml",
    monitor: bool = True,
    retrain_on_drift: bool = True,
) -> dict:
    logger = get_run_logger()
    _start_run()
    params = load_params(params_path)
    source = input_location or params.batch.input
    target = output_location or params.batch.output
    model = load_model_task(params.registry.model_name)
    result = score_task(BatchJob(model, source, target, params.batch, params.predict, _run_id()))
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
                    model, f"{source.rstrip('/')}/{item['input']}", item["output"], params
                ),
            }
            for item in result.scored
        ]
        if retrain_on_drift and any(item["drift"] for item in summary["monitoring"]):
            summary["retrain"] = trigger_retrain()
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
    _start_run()
    params = load_params(params_path)
    model = load_model_task(params.registry.model_name)
    verdict = monitor_task(model, input_file, scored_file, params)
    if verdict["drift"] and retrain_on_drift:
        verdict["retrain"] = trigger_retrain()
    return verdict


@flow(name="retrain")
def retrain_flow(checkout: str = ".", reason: str = "scheduled") -> dict:
    """Retrain in a tree of its own at the newest base branch (textclf.retrain.loop); `checkout`
    is only read. `reason` is "drift" when a drift verdict started it."""
    _start_run()
    logger = get_run_logger()
    summary = run_retrain(Path(checkout), reason, on_step=logger.info)
    logger.info("retraining: %s", summary["outcome"])
    return summary


def _run_id() -> str:
    """The flow run's id (a new one outside Prefect): names the Spark run and its EMR job."""
    from prefect.runtime import flow_run

    return str(flow_run.id or new_run_id())


def trigger_retrain() -> str:
    """Start the retrain deployment without waiting for it; returns its flow-run id."""
    from prefect.deployments import run_deployment

    name = os.environ.get("TEXTCLF_RETRAIN_DEPLOYMENT", RETRAIN_DEPLOYMENT)
    run = run_deployment(name, parameters={"reason": "drift"}, timeout=0)
    get_run_logger().warning("drift detected: started %s (flow run %s)", name, run.id)
    return str(run.id)
