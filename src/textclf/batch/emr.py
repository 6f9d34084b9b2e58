"""Run the Spark batch job (`spark_job.py`) on EMR Serverless and wait for it.

What the job needs goes under the staging location (`TEXTCLF_EMR_STAGING`, a prefix of the batch
bucket that Terraform creates with the application):

- `environments/textclf-<key>.tar.gz`: the packed Python environment (the project and the
  packages it locks; `scripts/build-emr-env.py` builds and uploads it). `<key>` hashes uv.lock
  and the package's code, so a job never runs code other than the worker's own.
- `runs/<run id>/`: the entry point (this checkout's `spark_job.py`), the model (`model.skops`)
  and, written by the job, `result.json`.
- `logs/`: Spark's driver and executor logs (EMR's S3 monitoring configuration).

The run id is the idempotency token of `start_job_run`: a retried submission returns the job run
that is already there instead of starting a second one. A job run of this project still active
(from a flow run that was killed) is waited for before a new one starts, so two jobs never write
the same output location.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textclf.batch import spark_job
from textclf.batch.job import BatchJob, BatchResult, load_manifest, pending_inputs
from textclf.core import retry, storage
from textclf.core.errors import DataError, ServiceUnavailable, SetupError, StepFailed
from textclf.core.params import BatchParams
from textclf.ml.persist import LoadedModel, save_model

JOB_NAME = "textclf-batch"
SETTINGS_ENV = {
    "application_id": "TEXTCLF_EMR_APPLICATION_ID",
    "execution_role_arn": "TEXTCLF_EMR_EXECUTION_ROLE_ARN",
    "staging": "TEXTCLF_EMR_STAGING",
}
ACTIVE = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED", "CANCELLING")
PYTHON = "./environment/bin/python"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmrSettings:
    """Where the job runs: Terraform outputs, written to the environment by `textclf infra
    settings` (they differ per environment, not per experiment, so they are not params)."""

    application_id: str
    execution_role_arn: str
    staging: str

    @classmethod
    def from_env(cls) -> EmrSettings:
        missing = [var for var in SETTINGS_ENV.values() if not os.environ.get(var)]
        if missing:
            raise SetupError(
                "environment",
                f"batch.engine is emr-serverless but {', '.join(missing)} is not set",
                "load the AWS settings (`textclf infra settings`, then .stack/env), "
                "or set batch.engine: local",
            )
        return cls(**{name: os.environ[var] for name, var in SETTINGS_ENV.items()})

    def environment(self, key: str) -> str:
        return storage.join(self.staging, "environments", f"textclf-{key}.tar.gz")

    def run_folder(self, run_id: str) -> str:
        return storage.join(self.staging, "runs", run_id)


def environment_key(root: Path = Path(".")) -> str:
    """Names the packed environment of this checkout: a hash of uv.lock and the package's
    code (what the job imports on EMR)."""
    digest = hashlib.sha256((root / "uv.lock").read_bytes())
    package = root / "src" / "textclf"
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def emr_client() -> Any:
    """boto3's emr-serverless client; AWS_ENDPOINT_URL_EMR_SERVERLESS points it elsewhere."""
    import boto3
    from botocore.config import Config

    return boto3.client("emr-serverless", config=Config(**retry.boto_config()))


def run_on_emr(
    job: BatchJob,
    emr: EmrSettings,
    root: Path = Path("."),
    on_state: Callable[[str, str], None] | None = None,
    client: Any = None,
) -> BatchResult:
    """Stage the job, start it (or find it started under `run_id`), wait for it, and return
    what it scored. A failed or cancelled job run raises StepFailed with EMR's reason and the
    job's own error; the manifest then holds only what the job finished."""
    client = client or emr_client()
    settings = job.settings
    for location in (job.input_location, job.output_location):
        if not storage.is_remote(location):
            raise DataError(
                location,
                "EMR Serverless reads and writes S3 only",
                "use s3:// batch locations (or batch.engine: spark for local folders)",
            )
    archive = emr.environment(environment_key(root))
    if not storage.exists(archive):
        raise SetupError(
            archive,
            "the job's packed Python environment for this checkout is not uploaded",
            "run `make emr-env` (scripts/build-emr-env.py --upload) on this host",
        )
    wait_for_active_runs(client, emr, settings, on_state)
    waiting = BatchResult()
    manifest = load_manifest(job.output_location)
    if not list(pending_inputs(job.input_location, manifest, waiting)):
        log.info("nothing new under %s: no job run started", job.input_location)
        return waiting
    staged = stage_job(job.model, emr.run_folder(job.run_id))
    driver = job_driver(staged, archive, job)
    job_run_id = start_job_run(client, emr, driver, settings, job.run_id)
    state, details = wait_for_job_run(client, emr, job_run_id, settings, on_state)
    outcome = _read_result(staged["result"])
    if state != "SUCCESS":
        error = outcome.get("error") if outcome else None
        raise StepFailed(
            f"EMR Serverless job run {job_run_id}",
            f"ended {state}: {details or 'no reason given'}"
            + (f"; the job said: {error}" if error else ""),
            f"read the driver log under {storage.join(emr.staging, 'logs')}; outputs the job "
            "finished are in the manifest, and the next run scores the rest",
        )
    if outcome is None or "scored" not in outcome:
        raise StepFailed(
            f"EMR Serverless job run {job_run_id}",
            f"reported success but wrote no result at {staged['result']}",
            f"read the driver log under {storage.join(emr.staging, 'logs')}",
        )
    return BatchResult(outcome["scored"], outcome["skipped"], outcome["failed"])


def stage_job(model: LoadedModel, folder: str) -> dict[str, str]:
    """Upload the entry point and the model; returns their locations and the result's."""
    job = {
        "entry_point": storage.join(folder, "spark_job.py"),
        "model": storage.join(folder, "model.skops"),
        "result": storage.join(folder, "result.json"),
    }
    storage.upload(Path(spark_job.__file__), job["entry_point"])
    with tempfile.TemporaryDirectory(prefix="textclf-emr-") as local:
        path = Path(local) / "model.skops"
        save_model(model.pipeline, path)
        storage.upload(path, job["model"])
    return job


def job_driver(staged: dict[str, str], archive: str, job: BatchJob) -> dict[str, Any]:
    """`spark-submit` on EMR: the staged entry point, its arguments, and the packed environment
    as the driver's and executors' Python (EMR Serverless's documented `spark.archives`
    route)."""
    model, settings = job.model, job.settings
    arguments = [
        *("--input", job.input_location, "--output", job.output_location),
        *("--model", staged["model"], "--model-name", model.name, "--model-version", model.version),
        *("--settings", spark_job.settings_json(settings, job.predict)),
        *("--run-id", job.run_id, "--result", staged["result"]),
    ]
    conf = {
        "spark.archives": f"{archive}#environment",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": PYTHON,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": PYTHON,
        "spark.executorEnv.PYSPARK_PYTHON": PYTHON,
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(settings.chunk_rows),
    }
    return {
        "sparkSubmit": {
            "entryPoint": staged["entry_point"],
            "entryPointArguments": arguments,
            "sparkSubmitParameters": " ".join(
                f"--conf {key}={value}" for key, value in conf.items()
            ),
        }
    }


def start_job_run(
    client: Any, emr: EmrSettings, driver: dict[str, Any], settings: BatchParams, run_id: str
) -> str:
    """Start the job run; `run_id` is its idempotency token (a retry finds the same run)."""
    started = _call(
        lambda: client.start_job_run(
            applicationId=emr.application_id,
            clientToken=run_id,
            name=JOB_NAME,
            executionRoleArn=emr.execution_role_arn,
            jobDriver=driver,
            configurationOverrides={
                "monitoringConfiguration": {
                    "s3MonitoringConfiguration": {"logUri": storage.join(emr.staging, "logs")}
                }
            },
            executionTimeoutMinutes=settings.emr.timeout_minutes,
            tags={"run-id": run_id},
        ),
        emr,
    )
    log.info("started EMR Serverless job run %s (run %s)", started["jobRunId"], run_id)
    return started["jobRunId"]


def wait_for_active_runs(
    client: Any,
    emr: EmrSettings,
    settings: BatchParams,
    on_state: Callable[[str, str], None] | None,
) -> None:
    """Wait for this project's job runs that are still going (a killed flow run's). The
    application is asked for first, so a wrong id is a SetupError naming it."""
    from botocore.exceptions import ClientError

    application = _call(lambda: client.get_application(applicationId=emr.application_id), emr)[
        "application"
    ]
    if application["state"] in ("TERMINATED", "STOPPING"):
        raise SetupError(
            f"EMR Serverless application {emr.application_id}",
            f"the application is {application['state']}",
            "apply infra/terraform again, which recreates it",
        )
    try:
        runs = _call(
            lambda: client.list_job_runs(applicationId=emr.application_id, states=list(ACTIVE)),
            emr,
        )["jobRuns"]
    except SetupError as error:
        # An application that exists but never ran a job is "not found" here (moto's answer);
        # after get_application succeeded, that can only mean there are no runs.
        if not isinstance(error.__cause__, ClientError) or "ResourceNotFound" not in str(error):
            raise
        runs = []
    for run in runs:
        if run.get("name") == JOB_NAME:
            log.warning("job run %s is still %s: waiting for it first", run["id"], run["state"])
            wait_for_job_run(client, emr, run["id"], settings, on_state)


def wait_for_job_run(
    client: Any,
    emr: EmrSettings,
    job_run_id: str,
    settings: BatchParams,
    on_state: Callable[[str, str], None] | None = None,
) -> tuple[str, str]:
    """Poll every `batch.emr.poll_seconds` until the run ends; report each change of state.
    Past its timeout (plus EMR's time to stop it) the run is cancelled here."""
    deadline = time.monotonic() + (settings.emr.timeout_minutes + 15) * 60
    last = None
    while True:
        run = _call(
            lambda: client.get_job_run(applicationId=emr.application_id, jobRunId=job_run_id),
            emr,
        )["jobRun"]
        state, details = run["state"], run.get("stateDetails", "")
        if state != last:
            log.info("EMR Serverless job run %s: %s %s", job_run_id, state, details)
            if on_state:
                on_state(state, details)
            last = state
        if state not in ACTIVE:
            return state, details
        if time.monotonic() > deadline:
            _call(
                lambda: client.cancel_job_run(
                    applicationId=emr.application_id, jobRunId=job_run_id
                ),
                emr,
            )
            return "CANCELLED", f"still {state} after {settings.emr.timeout_minutes} minutes"
        time.sleep(settings.emr.poll_seconds)


def _read_result(location: str) -> dict | None:
    return storage.read_json(location) if storage.exists(location) else None


def _call(request: Callable[[], Any], emr: EmrSettings) -> Any:
    """One EMR Serverless request; its errors told apart as the rest of the project does."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return request()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or code in ("ThrottlingException", "InternalServerException"):
            raise ServiceUnavailable(
                f"EMR Serverless application {emr.application_id}",
                f"the service did not answer ({code})",
                "the run can be repeated safely",
            ) from error
        raise SetupError(
            f"EMR Serverless application {emr.application_id}",
            f"the request was refused ({code}: {error.response['Error'].get('Message', '')})",
            "check TEXTCLF_EMR_APPLICATION_ID and the worker's permissions "
            "(`textclf infra settings` writes both)",
        ) from error
    except BotoCoreError as error:
        raise ServiceUnavailable(
            f"EMR Serverless application {emr.application_id}",
            f"the service did not answer ({type(error).__name__}: {error})",
            "check the network; the run can be repeated safely",
        ) from error
