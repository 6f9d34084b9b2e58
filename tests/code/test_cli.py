"""The command line: every stage is listed, and bad input exits 2 with one clear message."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import REPO_PARAMS, REPO_ROOT
from textclf.cli import app
from textclf.core.layout import Layout

runner = CliRunner()
COMMANDS = [
    "batch-predict",
    "behaviour",
    "card",
    "check",
    "convert-model",
    "evaluate",
    "infra",
    "ingest",
    "monitor-batch",
    "outcome",
    "predict",
    "prepare",
    "promote",
    "register",
    "report",
    "retrain",
    "serve",
    "stack",
    "sweep-best",
    "track",
    "train",
    "validate",
]


def test_the_commands_are_exactly_these() -> None:
    from typer.main import get_command

    assert sorted(get_command(app).commands) == COMMANDS
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")]
    assert sorted(name for name in listed if name in COMMANDS) == COMMANDS


def test_every_dvc_stage_is_a_command_and_back() -> None:
    from textclf.pipeline.stages import STAGES

    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == list(STAGES)
    assert all(stage["cmd"] == f"textclf {name}" for name, stage in stages.items())


def test_dvc_yaml_paths_match_layout() -> None:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    declared = set()
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind, []):
                declared.add(next(iter(out)) if isinstance(out, dict) else out)
    layout = Layout()
    expected = {
        str(getattr(layout, name))
        for name in dir(Layout)
        if isinstance(getattr(Layout, name), property) and name not in Layout.LOCAL_STATE
    }
    assert declared == expected


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A working copy with params.yaml pointing at a CSV the test writes."""
    monkeypatch.chdir(tmp_path)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["dataset"].update(source="data.csv", format="csv")
    params["train"]["vectorizer"] = {"kind": "tfidf"}
    params["train"]["classifier"] = {"kind": "logreg"}
    params["train"]["calibration"] = "none"  # 16 rows are too few to calibrate on
    params["train"]["word_vectors"].update(words=50, dims=4)  # ... and hold a few dozen words

    def write(frame: pd.DataFrame, **dataset: object) -> Path:
        params["dataset"].update(dataset)
        Path("params.yaml").write_text(yaml.safe_dump(params))
        frame.to_csv("data.csv", index=False)
        return tmp_path

    return write


def test_stages_run_from_the_command_line(workspace, labelled_table: pd.DataFrame) -> None:
    root = workspace(labelled_table[["text", "label"]])
    for stage in ("ingest", "validate", "prepare", "train", "evaluate"):
        result = runner.invoke(app, [stage])
        assert result.exit_code == 0, result.output
    assert (root / "reports/metrics.json").exists()
    assert (root / "reports/figures/confusion_matrix.png").stat().st_size > 1000
    result = runner.invoke(app, ["predict", "a wonderful film", "an awful waste"])
    assert result.exit_code == 0
    answers = [json.loads(line) for line in result.output.splitlines()]
    assert len(answers) == 2
    for answer in answers:
        assert answer["confidence"] == max(answer["probabilities"].values())
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
        # under predict.min_confidence the answer is `uncertain`, the probabilities stay
        abstains = answer["confidence"] < REPO_PARAMS.predict.min_confidence
        assert answer["label"] in ({"uncertain"} if abstains else {"pos", "neg"})


def test_predict_abstains_under_min_confidence(workspace, labelled_table) -> None:
    root = workspace(labelled_table[["text", "label"]])
    for stage in ("ingest", "validate", "prepare", "train"):
        assert runner.invoke(app, [stage]).exit_code == 0
    texts = ["a wonderful film", "an awful waste", "a film", "the"]
    answers = {}
    for threshold in (0.0, 0.99):
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["predict"]["min_confidence"] = threshold
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        result = runner.invoke(app, ["predict", *texts])
        assert result.exit_code == 0, result.output
        answers[threshold] = [json.loads(line) for line in result.output.splitlines()]
    assert {answer["label"] for answer in answers[0.0]} <= {"pos", "neg"}
    for everything, cautious in zip(answers[0.0], answers[0.99], strict=True):
        assert cautious["probabilities"] == everything["probabilities"]
        expected = "uncertain" if everything["confidence"] < 0.99 else everything["label"]
        assert cautious["label"] == expected
    assert any(answer["label"] == "uncertain" for answer in answers[0.99])


def test_bad_input_exits_2_and_writes_nothing(workspace) -> None:
    root = workspace(pd.DataFrame({"body": ["x", "y"], "label": ["a", "b"]}))
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "data.csv, field 'text': missing column(s) text" in result.output
    assert "Fix:" in result.output
    assert "Traceback" not in result.output
    assert not (root / "data").exists()


def test_a_missing_dataset_source_is_named_before_dvc_runs(workspace, labelled_table) -> None:
    """`dvc repro` stops on a missing dependency with its own "[Errno 2]"; `make repro` asks
    `textclf check` first, which names the file, the field and the fix."""
    root = workspace(labelled_table)
    assert runner.invoke(app, ["check"]).exit_code == 0
    workspace(labelled_table, unlabelled_source="gone/unlabelled.csv")
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2, result.output
    assert "gone/unlabelled.csv, field 'dataset.unlabelled_source'" in result.output
    assert "the dataset source does not exist" in result.output
    assert "set dataset.unlabelled_source in params.yaml to an existing file" in result.output
    assert "Traceback" not in result.output
    workspace(labelled_table, source="missing.csv", unlabelled_source=None)
    result = runner.invoke(app, ["ingest"])  # the stage itself says the same
    assert result.exit_code == 2 and "missing.csv, field 'dataset.source'" in result.output
    assert not (root / "data").exists()


def test_failed_validation_leaves_no_report(workspace, labelled_table) -> None:
    root = workspace(labelled_table[["text", "label"]].assign(label="pos"))
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "only one label value" in result.output
    assert not (root / "reports/validation.json").exists()


def test_too_small_a_validation_split_to_calibrate_on_is_named(workspace, labelled_table) -> None:
    root = workspace(labelled_table[["text", "label"]])
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["calibration"] = "temperature"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("ingest", "validate", "prepare"):
        assert runner.invoke(app, [stage]).exit_code == 0
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2
    assert "data/prepared/validation.parquet, field 'label': too few rows to calibrate on" in (
        result.output
    )
    assert "set train.calibration: none" in result.output
    assert not (root / "models/model.skops").exists()


def test_stage_without_its_input_says_which_stage_to_run(workspace, labelled_table) -> None:
    workspace(labelled_table)
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2
    assert "run the prepare stage first" in result.output


def test_bad_params_exit_2(workspace, labelled_table) -> None:
    workspace(labelled_table, format="xlsx")
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "dataset.format is 'xlsx'" in result.output


def test_sample_archive_is_small_and_complete() -> None:
    sample = REPO_ROOT / "data/raw/imdb_sample.tar.gz"
    assert sample.stat().st_size < 5 * 1024 * 1024
    assert shutil.which("textclf") is not None  # stage commands in dvc.yaml need it on PATH


def test_stages_are_quiet_unless_verbose(workspace, labelled_table) -> None:
    workspace(labelled_table[["text", "label"]])
    quiet = subprocess.run(["textclf", "ingest"], capture_output=True, text=True, check=True)
    assert quiet.stderr == ""
    loud = subprocess.run(
        ["textclf", "--verbose", "ingest"], capture_output=True, text=True, check=True
    )
    assert re.search(
        r"^\d\d:\d\d:\d\d INFO textclf.pipeline.stages: ingest finished in", loud.stderr
    )
    assert json.loads(loud.stdout) == json.loads(quiet.stdout)  # logs never mix with results


def test_batch_engine_option_is_checked_before_anything_runs(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["batch-predict", "--engine", "dask", "--input", str(tmp_path), "--output", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "batch.engine is 'dask'" in result.output
    assert "emr-serverless, local, spark" in result.output
    assert list(tmp_path.iterdir()) == []


def test_every_option_and_argument_of_every_command_is_described() -> None:
    import click
    import typer

    def commands(group: click.Group, path: str):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, f"{path} {name}")
            else:
                yield f"{path} {name}", command

    undescribed = [
        f"{path} {param.name}"
        for path, command in commands(typer.main.get_command(app), "textclf")
        for param in command.params
        if not getattr(param, "help", None)
    ]
    assert not undescribed


def test_outcome_says_the_accuracy_and_where_things_are(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["outcome", "--root", str(tmp_path)])
    assert missing.exit_code == 2 and "run the pipeline first" in missing.output
    (tmp_path / "reports").mkdir()
    metrics = {"accuracy": 0.864, "macro_f1": 0.8638, "test_rows": 1000}
    metrics["intervals"] = {"accuracy": {"low": 0.842, "high": 0.885}}
    (tmp_path / "reports/metrics.json").write_text(json.dumps(metrics))
    result = runner.invoke(app, ["outcome", "--root", str(tmp_path)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == (
        "test accuracy 86.4% (95% interval 84.2%-88.5%) on 1,000 rows, macro-F1 0.864"
    )
    assert "model:   models/model.skops" in lines
    assert "MLflow:  no tracked run in reports/mlflow_run.json" in lines


def test_serve_on_a_taken_port_is_one_error_with_exit_2() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app, ["serve", "--model", "champion", "--host", "127.0.0.1", "--port", str(port)]
        )
    assert result.exit_code == 2
    assert f"127.0.0.1:{port}: the port is taken by another program" in result.output
    assert "--port" in result.output
