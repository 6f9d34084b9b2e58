"""A crafted model runs nothing on any route (a file given to predict, batch-predict and serve; a
run or registry version; the Spark job's loader), and a registry version logged as a pickle by
textclf 0.2 keeps working through `textclf convert-model`, explicitly."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT, free_port
from textclf.batch import spark_job
from textclf.core.errors import DataError
from textclf.registry.convert import load_trusted_pickle

pytestmark = pytest.mark.integration
FIXTURE = REPO_ROOT / "tests/fixtures/model-0.1.joblib"
EXPECTED = json.loads((REPO_ROOT / "tests/fixtures/model-0.1.json").read_text())
PICKLE_REFUSED = "loading it runs any code it carries"


class RunsACommand:
    """Unpickling this calls os.system (what the crafted evil.joblib of the issue did)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "the-model-ran-code"
    path = tmp_path / "evil.joblib"
    joblib.dump(RunsACommand(marker), path)
    return path, marker


def textclf(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 120):
    return subprocess.run(
        ["textclf", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def refused(result: subprocess.CompletedProcess, marker: Path, expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists(), "the crafted model ran its command"


def test_a_crafted_file_runs_nothing_in_predict_batch_predict_and_serve(
    evil, reproduced_repo: Path, tmp_path: Path
) -> None:
    path, marker = evil
    repo = reproduced_repo
    refused(textclf("predict", "--model", str(path), "a text", cwd=repo), marker, "a pickle")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    pd.DataFrame({"id": [1], "text": ["a text"]}).to_csv(inputs / "new.csv", index=False)
    batch = textclf(
        "batch-predict", "--model", str(path), "--input", str(inputs),
        "--output", str(tmp_path / "out"), cwd=repo,
    )  # fmt: skip
    refused(batch, marker, "a pickle")
    assert not (tmp_path / "out").exists()
    served = textclf("serve", "--model", str(path), "--port", str(free_port()), cwd=repo)
    refused(served, marker, "a pickle")  # exits before the port opens: never ready


def test_the_spark_jobs_loader_refuses_it_too(evil) -> None:
    path, marker = evil
    with pytest.raises(DataError, match="a pickle"):
        spark_job.JobModel(str(path), "evil", "1").load()
    assert not marker.exists()


def test_a_crafted_registry_version_runs_nothing(evil, tmp_path: Path, monkeypatch) -> None:
    """Logged as a pickle (as anyone with write access to the registry could): runs:/ and
    models:/ are refused, and so is converting it (it is no classifier)."""
    import mlflow

    _, marker = evil
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    mlflow.set_tracking_uri(store)
    crafted = RunsACommand(marker)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(crafted, name="model", serialization_format="cloudpickle")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "evil").version
    env = {"MLFLOW_TRACKING_URI": store}
    for uri in (f"runs:/{run.info.run_id}/model", f"models:/evil/{version}"):
        refused(textclf("predict", "--model", uri, "a text", cwd=REPO_ROOT, env=env), marker, uri)
    assert not marker.exists()


def test_a_version_pickled_by_0_2_converts_once_and_keeps_its_alias(
    tmp_path: Path, monkeypatch
) -> None:
    import mlflow

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    mlflow.set_tracking_uri(store)
    old = load_trusted_pickle(FIXTURE)
    with mlflow.start_run() as run:  # how track.py logged models until 0.2
        mlflow.sklearn.log_model(old, name="model", serialization_format="cloudpickle")
    client = mlflow.MlflowClient()
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "old", tags={"a": "b"})
    client.set_registered_model_alias("old", "champion", version.version)
    env = {"MLFLOW_TRACKING_URI": store}

    champion = ("predict", "--model", "models:/old@champion", *EXPECTED["texts"])
    before = textclf(*champion, cwd=REPO_ROOT, env=env)
    assert before.returncode == 2, before.stderr
    assert PICKLE_REFUSED in before.stderr
    assert "textclf convert-model models:/old/1" in before.stderr

    converted = textclf("convert-model", "models:/old/1", cwd=REPO_ROOT, env=env)
    assert converted.returncode == 0, converted.stderr
    assert json.loads(converted.stdout)["aliases_moved"] == ["champion"]
    new = client.get_model_version_by_alias("old", "champion")
    assert str(new.version) == "2" and new.tags["a"] == "b"
    assert new.tags["textclf.converted_from"] == "old/1 (cloudpickle)"

    after = textclf(*champion, cwd=REPO_ROOT, env=env)
    assert after.returncode == 0, after.stderr
    confidences = [json.loads(line)["confidence"] for line in after.stdout.splitlines()]
    np.testing.assert_allclose(confidences, np.max(EXPECTED["proba"], axis=1), atol=1e-7)
