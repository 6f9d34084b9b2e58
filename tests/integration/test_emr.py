"""batch.engine emr-serverless: the flow's side of EMR Serverless against moto's server (S3 and
emr-serverless on loopback), with `emr_harness.FakeEmr` playing the service's execution side:
submission, polling, state changes in the logs, a job that fails, one that is cancelled, a
killed flow's job run still going, and the manifest afterwards. Then the batch-predict flow
itself, with monitoring on the Spark job's output."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml

from tests.conftest import NEGATIVE, POSITIVE, REPO_ROOT, free_port, make
from tests.integration.conftest import HARNESS_STARTUP_SECONDS
from tests.integration.emr_harness import (
    ACCOUNT,
    REGION,
    FakeEmr,
    backend,
    hangs,
    runs,
    succeeds_without_running,
)
from textclf.batch import emr
from textclf.batch.job import MANIFEST, BatchJob
from textclf.core import storage
from textclf.core.errors import DataError, SetupError, StepFailed
from textclf.core.params import (
    BatchParams,
    EmrParams,
    PredictParams,
    PrepareParams,
    TrainParams,
)
from textclf.ml.model import build_pipeline
from textclf.ml.persist import LoadedModel

pytestmark = pytest.mark.integration
BUCKET = "textclf-batch"
INCOMING, SCORED = f"s3://{BUCKET}/incoming", f"s3://{BUCKET}/scored"
STAGING = f"s3://{BUCKET}/emr"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/textclf-emr-job"
FAST = make(BatchParams, emr=EmrParams(poll_seconds=0.2, timeout_minutes=30))
ANSWERS = make(PredictParams, min_confidence=0.6)


@pytest.fixture(scope="module")
def aws():
    """moto's server on loopback, in this process (so FakeEmr can move job runs along)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    endpoint = f"http://127.0.0.1:{server._port}"
    settings = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    credentials = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    s3 = boto3.client("s3", **credentials)
    s3.create_bucket(Bucket=BUCKET)
    client = boto3.client("emr-serverless", **credentials)
    # moto accepts emr-7.x labels only; Terraform's application runs emr-spark-8.0.0
    application = client.create_application(name="textclf", releaseLabel="emr-7.5.0", type="SPARK")
    yield {"env": settings, "s3": s3, "application_id": application["applicationId"]}
    server.stop()


@pytest.fixture
def env(aws, monkeypatch):
    import moto.emrserverless.models

    for key, value in aws["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TEXTCLF_EMR_APPLICATION_ID", aws["application_id"])
    monkeypatch.setenv("TEXTCLF_EMR_EXECUTION_ROLE_ARN", ROLE)
    monkeypatch.setenv("TEXTCLF_EMR_STAGING", STAGING)
    # job runs start where EMR starts them; FakeEmr moves them on
    monkeypatch.setattr(moto.emrserverless.models, "JOB_STATUS", "SUBMITTED")
    s3 = aws["s3"]
    for prefix in ("incoming/", "scored/", "emr/runs/"):
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    return aws


@pytest.fixture(scope="module")
def environment_archive(aws, tmp_path_factory) -> Path:
    """The packed job environment of this checkout, built by the documented command."""
    output = tmp_path_factory.mktemp("emr-env")
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build-emr-env.py"), "--output", str(output)],
        check=True,
        cwd=REPO_ROOT,
    )
    (archive,) = output.glob("textclf-*.tar.gz")
    return archive


@pytest.fixture
def uploaded_environment(env, environment_archive) -> str:
    target = emr.EmrSettings.from_env().environment(emr.environment_key(REPO_ROOT))
    storage.upload(environment_archive, target)
    return target


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    params = make(
        TrainParams,
        word_vectors=None,
        vectorizer={"kind": "tfidf"},
        classifier={"kind": "logreg", "C": 10.0},
        calibration="none",
    )
    pipeline = build_pipeline(params, make(PrepareParams)).fit(
        POSITIVE * 3 + NEGATIVE * 3, ["pos"] * 12 + ["neg"] * 12
    )
    return LoadedModel(pipeline, "textclf-imdb", "4", "models:/textclf-imdb/4")


def put_inputs(s3) -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": ["great film", "awful", "loved it"]})
    s3.put_object(Bucket=BUCKET, Key="incoming/day1/reviews.parquet", Body=frame.to_parquet())
    body = pd.DataFrame({"text": ["boring", "superb acting"]}).to_csv(index=False)
    s3.put_object(Bucket=BUCKET, Key="incoming/posts.csv", Body=body.encode())


def run(model, run_id: str, states: list | None = None, source: str = INCOMING):
    return emr.run_on_emr(
        BatchJob(model, source, SCORED, FAST, ANSWERS, run_id),
        emr.EmrSettings.from_env(),
        root=REPO_ROOT,
        on_state=(lambda state, details: states.append(state)) if states is not None else None,
    )


def test_a_job_run_scores_the_inputs_and_the_next_run_skips_them(
    env, uploaded_environment, model, tmp_path
) -> None:
    put_inputs(env["s3"])
    states: list[str] = []
    with FakeEmr(env["application_id"], tmp_path, runs):
        result = run(model, "run-1", states)
    assert states == ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS"]
    assert sorted(item["input"] for item in result.scored) == ["day1/reviews.parquet", "posts.csv"]
    scored = pd.read_parquet(f"{SCORED}/day1/reviews.parquet")  # a Parquet folder
    assert scored["id"].tolist() == ["a", "b", "c"]
    assert set(scored["model_version"]) == {"4"}
    manifest = storage.read_json(f"{SCORED}/{MANIFEST}")["inputs"]
    assert manifest["posts.csv"]["output"] == f"{SCORED}/posts.parquet"
    assert manifest["posts.csv"]["engine"] == "spark"

    job_run = backend().job_runs[env["application_id"]][-1]
    assert job_run.client_token == "run-1" and job_run.name == emr.JOB_NAME
    assert job_run.execution_role_arn == ROLE
    submit = job_run.job_driver["sparkSubmit"]
    assert submit["entryPoint"] == f"{STAGING}/runs/run-1/spark_job.py"
    assert f"spark.archives={uploaded_environment}#environment" in submit["sparkSubmitParameters"]
    logs = job_run.configuration_overrides["monitoringConfiguration"]
    assert logs["s3MonitoringConfiguration"]["logUri"] == f"{STAGING}/logs"

    before = len(backend().job_runs[env["application_id"]])
    with FakeEmr(env["application_id"], tmp_path / "again", runs):
        again = run(model, "run-2")
    assert again.scored == [] and sorted(again.skipped) == ["day1/reviews.parquet", "posts.csv"]
    assert len(backend().job_runs[env["application_id"]]) == before  # nothing new: no job run


def test_a_failed_job_run_names_the_jobs_error_and_leaves_the_manifest(
    env, uploaded_environment, model, tmp_path
) -> None:
    put_inputs(env["s3"])

    def inputs_vanish_then_runs(harness: FakeEmr, job_run) -> None:
        storage.remove(INCOMING)  # between the flow's look and the job's own
        runs(harness, job_run)

    with (
        FakeEmr(env["application_id"], tmp_path, inputs_vanish_then_runs),
        pytest.raises(StepFailed) as failed,
    ):
        run(model, "run-vanished")
    message = str(failed.value)
    assert "ended FAILED: Job failed" in message and "ExitCode: 2" in message
    assert f"the job said: {INCOMING}: the batch input location does not exist" in message
    assert f"{STAGING}/logs" in message
    assert not storage.exists(f"{SCORED}/{MANIFEST}")


def test_a_cancelled_job_run_fails_the_run(env, uploaded_environment, model, tmp_path) -> None:
    put_inputs(env["s3"])
    client = boto3.client("emr-serverless")
    states: list[str] = []

    def cancel_when_running(state: str, details: str) -> None:
        states.append(state)
        if state == "RUNNING":
            (job_run,) = backend().job_runs[env["application_id"]][-1:]
            client.cancel_job_run(applicationId=env["application_id"], jobRunId=job_run.id)

    with FakeEmr(env["application_id"], tmp_path, hangs), pytest.raises(StepFailed) as failed:
        emr.run_on_emr(
            BatchJob(model, INCOMING, SCORED, FAST, ANSWERS, "run-cancelled"),
            emr.EmrSettings.from_env(),
            root=REPO_ROOT,
            on_state=cancel_when_running,
        )
    assert states[-1] == "CANCELLED"
    assert "ended CANCELLED" in str(failed.value)
    assert not storage.exists(f"{SCORED}/{MANIFEST}")


def test_a_job_run_left_by_a_killed_flow_is_waited_for(
    env, uploaded_environment, model, tmp_path
) -> None:
    put_inputs(env["s3"])
    client = boto3.client("emr-serverless")
    application = env["application_id"]

    def scenario(harness: FakeEmr, job_run) -> None:
        play = succeeds_without_running if job_run.client_token == "killed-flow" else runs
        play(harness, job_run)

    states: list[str] = []
    with FakeEmr(application, tmp_path, scenario):
        client.start_job_run(
            applicationId=application,
            clientToken="killed-flow",
            name=emr.JOB_NAME,
            executionRoleArn=ROLE,
            jobDriver={"sparkSubmit": {"entryPoint": f"{STAGING}/runs/old/spark_job.py"}},
        )
        result = run(model, "run-after", states)
    # the orphan to its end first, then this run's own job run
    orphan, own = states[:-5], states[-5:]
    assert orphan[-2:] == ["RUNNING", "SUCCESS"]
    assert own == ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS"]
    assert len(result.scored) == 2


def test_a_success_without_a_result_is_not_taken_for_nothing_to_do(
    env, uploaded_environment, model, tmp_path
) -> None:
    put_inputs(env["s3"])
    with (
        FakeEmr(env["application_id"], tmp_path, succeeds_without_running),
        pytest.raises(StepFailed, match="reported success but wrote no result"),
    ):
        run(model, "run-empty")


def test_what_must_be_in_place_before_a_job_is_submitted(
    env, uploaded_environment, model, monkeypatch
) -> None:
    before = len(backend().job_runs.get(env["application_id"], []))
    with pytest.raises(DataError, match="the batch input location does not exist"):
        run(model, "r", source=f"s3://{BUCKET}/no-such-folder")
    assert len(backend().job_runs.get(env["application_id"], [])) == before
    with pytest.raises(DataError, match="EMR Serverless reads and writes S3 only"):
        emr.run_on_emr(
            BatchJob(model, "data/incoming", SCORED, FAST, ANSWERS, "r"),
            emr.EmrSettings.from_env(),
        )
    with pytest.raises(SetupError, match=r"packed Python environment.*make emr-env"):
        emr.run_on_emr(
            BatchJob(model, INCOMING, SCORED, FAST, ANSWERS, "r"),
            replace(emr.EmrSettings.from_env(), staging=f"s3://{BUCKET}/elsewhere"),
            root=REPO_ROOT,
        )
    monkeypatch.delenv("TEXTCLF_EMR_APPLICATION_ID")
    with pytest.raises(SetupError, match="TEXTCLF_EMR_APPLICATION_ID is not set"):
        emr.EmrSettings.from_env()


def test_an_unknown_application_is_a_setup_error(env, uploaded_environment, model) -> None:
    settings = replace(emr.EmrSettings.from_env(), application_id="00missing00")
    with pytest.raises(SetupError, match=r"00missing00.*refused"):
        emr.run_on_emr(
            BatchJob(model, INCOMING, SCORED, FAST, ANSWERS, "r"), settings, root=REPO_ROOT
        )


def test_the_batch_predict_flow_on_emr_serverless(
    env, uploaded_environment, champion_repo, tmp_path, monkeypatch
) -> None:
    """The flow as deployed: params say emr-serverless; Spark's output is monitored."""
    from prefect.testing.utilities import prefect_test_harness

    from textclf.flows import batch_predict

    monkeypatch.chdir(champion_repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{champion_repo / 'flows.db'}")
    params = yaml.safe_load((champion_repo / "params.yaml").read_text())
    params["batch"]["engine"] = "emr-serverless"
    params["batch"]["emr"]["poll_seconds"] = 0.5
    emr_params = champion_repo / "params-emr.yaml"  # beside the data monitoring compares with
    emr_params.write_text(yaml.safe_dump(params, sort_keys=False))
    unlabelled = pd.read_parquet(champion_repo / "data/interim/unlabelled.parquet")
    env["s3"].put_object(
        Bucket=BUCKET,
        Key="incoming/unsup.parquet",
        Body=unlabelled[["id", "text"]].head(300).to_parquet(),
    )
    # the champion's environment is this checkout's: the copy's code and lock are the same
    with (
        prefect_test_harness(server_startup_timeout=HARNESS_STARTUP_SECONDS),
        FakeEmr(env["application_id"], tmp_path / "emr", runs),
    ):
        summary = batch_predict(
            input_location=INCOMING,
            output_location=SCORED,
            params_path=str(emr_params),
            retrain_on_drift=False,
        )
        from prefect.client.orchestration import get_client
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()
        with get_client(sync_client=True) as client:
            messages = [log.message for log in client.read_logs()]
    # the job run's states reach the flow run's log
    for state in ("SUBMITTED", "RUNNING", "SUCCESS"):
        assert any(
            message.startswith("EMR Serverless job run") and state in message
            for message in messages
        ), state
    (item,) = summary["scored"]
    assert item["input"] == "unsup.parquet" and item["rows"] == 300
    assert item["model"] == "textclf-imdb"
    (verdict,) = summary["monitoring"]
    assert verdict["rows"] == 300 and verdict["drift"] is False
    report = json.loads(storage.filesystem(SCORED).cat(f"{SCORED}/unsup.monitor.json").decode())
    assert report["verdict"]["drift"] is False
