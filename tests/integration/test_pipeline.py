"""End to end: `dvc repro` on the bundled sample in a fresh repository, then DVC experiments,
metrics and plots, the MLflow run, the registry and the reloaded model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO_PARAMS, SHARED_DATASETS
from tests.integration.conftest import copy_repo, read_json, sh
from textclf.core.files import file_digest
from textclf.core.gitrepo import locked_model_md5
from textclf.ml.persist import load_model_file

pytestmark = pytest.mark.integration


def mlflow_client(repo: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")


def test_repro_produces_metrics_plots_and_reports(reproduced_repo: Path) -> None:
    metrics = read_json(reproduced_repo / "reports/metrics.json")
    assert metrics["test_rows"] == 1000
    assert 0.8 < metrics["accuracy"] <= 1
    assert set(metrics) >= {"macro_f1", "roc_auc", "log_loss", "per_class"}
    assert read_json(reproduced_repo / "reports/validation.json")["rows"] == 3000
    held_out = read_json(reproduced_repo / "reports/train.json")["validation"]
    assert held_out["rows"] == 200 and 0.7 < held_out["accuracy"] <= 1
    errors = pd.read_csv(reproduced_repo / "reports/worst_errors.csv")
    assert len(errors) == 50 and (errors["actual"] != errors["predicted"]).all()
    shown = json.loads(sh("dvc", "plots", "show", "--json", cwd=reproduced_repo))
    names = set(shown["data"])
    for plot in ("confusion_matrix", "roc", "precision_recall", "calibration", "coverage"):
        assert plot in names, names
    assert any(name.endswith("confusion_matrix.png") for name in names)


def test_repro_on_a_fresh_clone_leaves_git_status_clean(reproduced_repo: Path) -> None:
    assert (reproduced_repo / ".git/status-after-repro").read_text() == ""


def test_unchanged_repro_recomputes_nothing_and_tracks_no_second_run(reproduced_repo) -> None:
    runs = mlflow_client(reproduced_repo).search_runs(["1"])
    output = sh("dvc", "repro", cwd=reproduced_repo)
    for stage in ("ingest", "validate", "prepare", "train", "evaluate"):
        assert f"Stage '{stage}' didn't change, skipping" in output
    assert len(mlflow_client(reproduced_repo).search_runs(["1"])) == len(runs) == 1
    assert read_json(reproduced_repo / "reports/mlflow_run.json")["run_id"] == runs[0].info.run_id
    assert sh("git", "status", "--porcelain", cwd=reproduced_repo) == ""


def test_mlflow_run_has_params_metrics_model_commit_and_data_hash(reproduced_repo: Path) -> None:
    record = read_json(reproduced_repo / "reports/mlflow_run.json")
    run = mlflow_client(reproduced_repo).get_run(record["run_id"])
    metrics = read_json(reproduced_repo / "reports/metrics.json")
    assert run.data.metrics["accuracy"] == pytest.approx(metrics["accuracy"])
    assert run.data.metrics["per_class.pos.f1"] == pytest.approx(metrics["per_class"]["pos"]["f1"])
    assert run.data.params["train.classifier.C"] == str(REPO_PARAMS.train.classifier["C"])
    assert run.data.metrics["seconds.train"] > 0  # timings live in MLflow, not in git
    assert run.data.params["dataset.source"] == "data/raw/imdb_sample.tar.gz"
    commit = sh("git", "rev-parse", "HEAD~1", cwd=reproduced_repo).strip()
    assert run.data.tags["git_commit"] == commit
    lock = yaml.safe_load((reproduced_repo / "dvc.lock").read_text())
    train_out = next(o for o in lock["stages"]["prepare"]["outs"] if "train" in o["path"])
    assert run.data.tags["data_md5.train"] == train_out["md5"]  # the DVC hash of the data
    artifacts = {a.path for a in mlflow_client(reproduced_repo).list_artifacts(run.info.run_id)}
    assert {"plots", "figures", "reports", "errors", "predictions"} <= artifacts
    assert {"behaviour", "model_card"} <= artifacts
    behaviour = read_json(reproduced_repo / "reports/behaviour.json")
    typos = behaviour["tests"]["typos"]["failure_rate"]
    assert run.data.metrics["behaviour.typos.failure_rate"] == pytest.approx(typos)
    assert run.data.metrics["ece"] == pytest.approx(metrics["ece"])
    held_out = read_json(reproduced_repo / "reports/train.json")["validation"]["accuracy"]
    assert run.data.metrics["train.validation.accuracy"] == pytest.approx(held_out)


def test_behaviour_abstention_calibration_and_the_model_card(reproduced_repo: Path) -> None:
    behaviour = read_json(reproduced_repo / "reports/behaviour.json")
    assert behaviour["suite"] == "sentiment-en" and behaviour["failed_gates"] == []
    assert behaviour["summary"]["tests"] >= 12
    assert {test["type"] for test in behaviour["tests"].values()} == {"mft", "inv", "dir"}
    metrics = read_json(reproduced_repo / "reports/metrics.json")
    abstention = metrics["abstention"]
    assert abstention["coverage"] + abstention["abstained"] == pytest.approx(1.0)
    assert 0.5 < abstention["coverage"] < 1
    assert abstention["accuracy_answered"] > metrics["accuracy"]  # abstaining buys accuracy
    low, high = metrics["intervals"]["accuracy"]["low"], metrics["intervals"]["accuracy"]["high"]
    assert low < metrics["accuracy"] < high
    assert 0 <= metrics["ece"] < 0.1
    assert read_json(reproduced_repo / "reports/train.json")["calibrated_on_rows"] == 200
    card = (reproduced_repo / "reports/model_card.md").read_text()
    for heading in ("## Data", "## Metrics", "## Abstention", "## Calibration", "## Known limits"):
        assert heading in card
    assert file_digest(reproduced_repo / "data/prepared/train.parquet") in card
    assert f"| accuracy | {metrics['accuracy']:.4f} | [{low:.4f}, {high:.4f}] | higher |" in card
    assert "| negation lowers positive | dir |" in card


def test_a_model_blind_to_negation_fails_the_behaviour_stage(reproduced_repo, tmp_path) -> None:
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["vectorizer"]["stop_words"] = ["not", "no", "never", "nor", "n", "t"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    runs = len(mlflow_client(repo).search_runs(["1"]))
    result = subprocess.run(["dvc", "repro"], cwd=repo, capture_output=True, text=True)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "behaviour tests failed: negation lowers positive (100.0% > 50.0%)" in output
    assert "raise behaviour.max_failure_rate" in output
    report = read_json(repo / "reports/behaviour.json")  # written, to show the failing cases
    assert "negation raises negative" in report["failed_gates"]
    assert report["tests"]["negation lowers positive"]["examples"]
    assert len(mlflow_client(repo).search_runs(["1"])) == runs  # never tracked


def test_logged_model_reloads_and_predicts_like_the_pipeline(reproduced_repo: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{reproduced_repo / 'mlflow.db'}")
    record = read_json(reproduced_repo / "reports/mlflow_run.json")
    loaded = mlflow.pyfunc.load_model(record["model_uri"])
    assert loaded.metadata.get_input_schema().input_names() == ["text"]
    test = pd.read_parquet(reproduced_repo / "data/prepared/test.parquet")
    pipeline = load_model_file(reproduced_repo / "models/model.skops").pipeline
    reloaded = loaded.predict(test[["text"]])
    assert list(reloaded) == list(pipeline.predict(test["text"].tolist()))


def test_register_command_versions_the_model(reproduced_repo: Path) -> None:
    output = sh("textclf", "register", cwd=reproduced_repo)
    registered = json.loads(output)
    assert registered["name"] == "textclf-imdb"
    version = mlflow_client(reproduced_repo).get_model_version(
        "textclf-imdb", registered["version"]
    )
    run_tags = mlflow_client(reproduced_repo).get_run(registered["run_id"]).data.tags
    assert version.tags["data_md5.train"] == run_tags["data_md5.train"]
    # git_commit names a commit whose dvc.lock names this very model, on the version and the run
    model_md5 = file_digest(reproduced_repo / "models/model.skops")
    assert version.tags["model_md5"] == model_md5
    for commit in (version.tags["git_commit"], run_tags["git_commit"]):
        lock = sh("git", "show", f"{commit}:dvc.lock", cwd=reproduced_repo)
        assert locked_model_md5(lock) == model_md5


def test_register_refuses_a_model_no_commit_describes(reproduced_repo, tmp_path) -> None:
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["classifier"]["C"] = 0.02
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("dvc", "repro", cwd=repo)  # a new model, its dvc.lock not committed
    result = subprocess.run(["textclf", "register"], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 2
    assert "the committed dvc.lock (HEAD) does not name this model" in result.stderr
    assert "git add dvc.lock" in result.stderr
    forced = json.loads(sh("textclf", "register", "--allow-uncommitted", cwd=repo))
    assert forced["git_commit"] == "uncommitted" and forced["registered_uncommitted"] == "true"
    decision = json.loads(sh("textclf", "promote", cwd=repo))
    assert decision["promoted"] is False
    assert "registered without a commit" in decision["reason"]


def test_experiment_with_param_override(reproduced_repo: Path) -> None:
    repo = reproduced_repo
    sh("dvc", "exp", "run", "-S", "train.classifier.C=0.01", "-n", "low-c", cwd=repo)
    try:
        shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=repo))
        experiment = find_experiment(shown, "low-c")
        params = experiment["data"]["params"]["params.yaml"]["data"]
        assert params["train"]["classifier"]["C"] == 0.01
        assert "reports/metrics.json" in experiment["data"]["metrics"]
        diff = json.loads(sh("dvc", "metrics", "diff", "--json", cwd=repo))
        accuracy = diff["reports/metrics.json"]["accuracy"]
        assert accuracy["new"] == read_json(repo / "reports/metrics.json")["accuracy"]
        assert "diff" in accuracy
        html = sh("dvc", "plots", "diff", "HEAD", "-o", "plots-diff", cwd=repo)
        assert (repo / "plots-diff" / "index.html").exists(), html
        assert "HEAD" in (repo / "plots-diff" / "index.html").read_text()
        params_diff = json.loads(sh("dvc", "params", "diff", "--json", cwd=repo))
        changed = params_diff["params.yaml"]["train.classifier.C"]
        assert (changed["old"], changed["new"]) == (REPO_PARAMS.train.classifier["C"], 0.01)
    finally:
        sh("git", "checkout", "--", ".", cwd=repo)
        sh("git", "clean", "-fdq", "plots-diff", cwd=repo)
        sh("dvc", "checkout", "--force", cwd=repo)


def find_experiment(shown: list, name: str) -> dict:
    stack = list(shown)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("name") == name and "data" in item:
                return item
            stack.extend(v for v in item.values() if isinstance(v, list | dict))
        elif isinstance(item, list):
            stack.extend(item)
    raise AssertionError(f"experiment {name} not in dvc exp show output")


def test_multiclass_by_params_alone(reproduced_repo: Path) -> None:
    # the sentiment suite's labels are not ratings: no behaviour suite for this dataset
    run_temp_experiment(
        reproduced_repo, "ratings", ["dataset.label_field=rating", "behaviour.suite=null"]
    )
    metrics = experiment_metrics(reproduced_repo, "ratings")
    assert set(metrics["per_class"]) == {"1", "2", "3", "4", "7", "8", "9", "10"}
    assert 0.2 < metrics["accuracy"] < 1  # eight classes: far above the 1/8 of chance


@pytest.mark.skipif(not SHARED_DATASETS.exists(), reason="needs ../shared/datasets")
def test_disaster_tweets_csv_by_params_alone(reproduced_repo: Path) -> None:
    tweets = SHARED_DATASETS / "disaster-tweets"
    run_temp_experiment(
        reproduced_repo,
        "tweets",
        [
            "dataset.name=disaster-tweets",
            f"dataset.source={tweets / 'train.csv'}",
            f"dataset.unlabelled_source={tweets / 'test.csv'}",
            "dataset.label_column=target",
            "dataset.id_column=id",
            "validate.max_duplicate_fraction=0.05",
            "behaviour.suite=null",
        ],
    )
    metrics = experiment_metrics(reproduced_repo, "tweets")
    assert set(metrics["per_class"]) == {"0", "1"}
    assert metrics["test_rows"] == pytest.approx(7613 * 0.2, abs=30)
    assert metrics["accuracy"] > 0.75


def run_temp_experiment(repo: Path, name: str, settings: list[str]) -> None:
    args = [item for setting in settings for item in ("-S", setting)]
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"}
    sh("dvc", "exp", "run", "--temp", "-n", name, *args, cwd=repo, env=env)


def experiment_metrics(repo: Path, name: str) -> dict:
    experiment = find_experiment(json.loads(sh("dvc", "exp", "show", "--json", cwd=repo)), name)
    return experiment["data"]["metrics"]["reports/metrics.json"]["data"]
