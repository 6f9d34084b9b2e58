"""The command line: every stage is listed, and bad input exits 2 with one clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import REPO_ROOT
from textclf.cli import app
from textclf.layout import Layout

runner = CliRunner()
COMMANDS = ["ingest", "validate", "prepare", "train", "evaluate", "track", "register", "predict"]


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


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
        if isinstance(getattr(Layout, name), property)
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
    assert result.output.count('"label"') == 2


def test_bad_input_exits_2_and_writes_nothing(workspace) -> None:
    root = workspace(pd.DataFrame({"body": ["x", "y"], "label": ["a", "b"]}))
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "data.csv, field 'text': missing column(s) text" in result.output
    assert "Fix:" in result.output
    assert "Traceback" not in result.output
    assert not (root / "data").exists()


def test_failed_validation_leaves_no_report(workspace, labelled_table) -> None:
    root = workspace(labelled_table[["text", "label"]].assign(label="pos"))
    assert runner.invoke(app, ["ingest"]).exit_code == 0
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "only one label value" in result.output
    assert not (root / "reports").exists()


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
