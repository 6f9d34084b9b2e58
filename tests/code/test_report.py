from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from textclf.review.report import (
    MARKER,
    Snapshot,
    changed_params,
    mlflow_link,
    paired_significance,
    pr_markdown,
)

GOLDEN = REPO_ROOT / "tests/golden/report.md"


def predictions(correct: list[bool], ids: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"id": ids or [str(i) for i in range(len(correct))], "correct": correct})


def test_mcnemar_exact_p_value_and_interval() -> None:
    base = predictions([False] * 10 + [True] * 90)
    new = predictions([True] * 100)  # right on the 10 rows the base got wrong, and no others
    result = paired_significance(base, new)
    assert (result.base_only_correct, result.new_only_correct) == (0, 10)
    assert result.p_value == pytest.approx(2 * 0.5**10)
    assert result.improvement == pytest.approx(0.10)
    assert result.low > 0 and result.low <= 0.10 <= result.high
    assert result.significant


def test_balanced_disagreement_is_not_significant() -> None:
    rng = np.random.default_rng(1)
    base_correct = rng.random(500) < 0.8
    new_correct = base_correct.copy()
    gains = rng.choice(np.flatnonzero(~base_correct), size=20, replace=False)
    losses = rng.choice(np.flatnonzero(base_correct), size=20, replace=False)
    new_correct[gains], new_correct[losses] = True, False  # as many gains as losses
    result = paired_significance(predictions(list(base_correct)), predictions(list(new_correct)))
    assert (result.new_only_correct, result.base_only_correct) == (20, 20)
    assert result.p_value == pytest.approx(1.0)
    assert not result.significant
    assert result.low < 0 < result.high


def test_rows_are_matched_by_id_and_disjoint_sets_give_none() -> None:
    base = predictions([True, False], ids=["a", "b"])
    assert (
        paired_significance(base, predictions([True, True], ids=["b", "a"])).new_only_correct == 1
    )
    assert paired_significance(base, predictions([True], ids=["z"])) is None


def test_changed_params_are_flattened() -> None:
    base = {"train": {"classifier": {"C": 0.1, "kind": "logreg"}}, "seed": 1}
    new = {"train": {"classifier": {"C": 0.5, "kind": "logreg"}}, "seed": 1, "extra": True}
    assert changed_params(base, new) == [("extra", None, True), ("train.classifier.C", 0.1, 0.5)]


def snapshots() -> tuple[Snapshot, Snapshot]:
    per_class = {
        "neg": {"precision": 0.8, "recall": 0.9, "f1": 0.85},
        "pos": {"precision": 0.9, "recall": 0.8, "f1": 0.85},
    }
    base = Snapshot(
        "main",
        {
            "accuracy": 0.85,
            "macro_f1": 0.85,
            "roc_auc": 0.9,
            "log_loss": 0.4,
            "ece": 0.02,
            "test_rows": 4,
            "per_class": per_class,
        },
        {"train": {"classifier": {"C": 0.1}}},
        predictions([True, True, False, True], ids=["1", "2", "3", "4"]),
        {"train": {"neg": 10, "pos": 10}, "test": {"neg": 2, "pos": 2}},
        behaviour=behaviour({"short positive": ("mft", 0.1, True), "typos": ("inv", 0.0, True)}),
        model_card="# Model card\n\n| accuracy | 0.8500 |\n",
    )
    new = Snapshot(
        "workspace",
        {
            "accuracy": 1.0,
            "macro_f1": 1.0,
            "roc_auc": 1.0,
            "log_loss": 0.1,
            "ece": 0.05,
            "test_rows": 4,
            "per_class": per_class,
        },
        {"train": {"classifier": {"C": 1.0}}},
        predictions([True, True, True, True], ids=["1", "2", "3", "5"]),
        {"train": {"neg": 12, "pos": 10}, "test": {"neg": 2, "pos": 2}},
        {"tracking_uri": "http://mlflow:5000", "experiment_id": "1", "run_id": "abc"},
        behaviour({"short positive": ("mft", 0.05, True), "typos": ("inv", 0.08, False)}),
        "# Model card\n\n| accuracy | 1.0000 |\n",
    )
    return base, new


def behaviour(tests: dict[str, tuple[str, float, bool]]) -> dict:
    return {
        "tests": {
            name: {
                "type": kind,
                "failure_rate": rate,
                "passed": passed,
                "gate": True,
                "max_failure_rate": 0.05,
            }
            for name, (kind, rate, passed) in tests.items()
        }
    }


def skeleton(markdown: str) -> str:
    """The report's structure: numbers masked, so the golden file pins layout, not floats."""
    return re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "N", markdown)


def test_report_structure_matches_golden_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    report = pr_markdown(*snapshots(), figures="figures")
    assert GOLDEN.exists(), f"{GOLDEN} is missing: it is part of the test, restore it from git"
    assert skeleton(report) == GOLDEN.read_text()
    assert report.startswith(MARKER)
    assert "| accuracy | 0.8500 | 1.0000 | +0.1500 |" in report
    # Lower is better for log-loss and ECE: a fall is no regression, a rise is one.
    assert "| log_loss | 0.4000 | 0.1000 | -0.3000 |" in report
    assert "| ece | 0.0200 | 0.0500 | +0.0300 ⚠️ worse |" in report
    assert "| short positive | mft | 10.0% | 5.0% | -5.0 pp | 5% | pass |" in report
    assert "| typos | inv | 0.0% | 8.0% | +8.0 pp ⚠️ worse | 5% | fail |" in report
    assert "-| accuracy | 0.8500 |\n+| accuracy | 1.0000 |" in report
    assert "| `train.classifier.C` | 0.1 | 1.0 |" in report
    assert "| train | neg | 10 | 12 | +2 |" in report
    assert "Evaluation rows: 1 added, 1 removed." in report
    assert "MLflow run: [abc](http://mlflow:5000/#/experiments/1/runs/abc)" in report


def test_mlflow_link_only_for_a_server() -> None:
    assert (
        mlflow_link({"tracking_uri": "sqlite:///x.db", "run_id": "a", "experiment_id": "1"}) is None
    )


def test_workflows_pass_actionlint() -> None:
    workflows = sorted((REPO_ROOT / ".github/workflows").glob("*.yml"))
    assert len(workflows) == 2
    result = subprocess.run(["actionlint", *map(str, workflows)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.nope }}\n"
    )
    assert subprocess.run(["actionlint", str(broken)], capture_output=True).returncode != 0


def test_the_champion_column_compares_with_production() -> None:
    base, new = snapshots()
    champion = Snapshot(label="champion v3", metrics={"accuracy": 0.9, "test_rows": 4}, params={})
    report = pr_markdown(base, new, champion=champion)
    assert "| metric | base | new | delta | champion v3 | new - champion |" in report
    assert "| accuracy | 0.8500 | 1.0000 | +0.1500 | 0.9000 | +0.1000 |" in report
