"""The pull-request report on a real two-commit history, and the PR workflow's own steps run
against the local stack instead of AWS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.code.test_report import GOLDEN
from tests.conftest import REPO_PARAMS
from tests.integration.conftest import copy_repo, read_json, sh
from textclf.infra import stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_commits(reproduced_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reproduced repository plus a commit that changes train.classifier.C."""
    repo = copy_repo(reproduced_repo, tmp_path_factory.mktemp("report") / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["classifier"]["C"] = 0.01
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("dvc", "repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "lower C", cwd=repo)
    return repo


def test_report_gives_deltas_params_and_significance(two_commits: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    sh("textclf", "report", "--base", "HEAD~1", "--output", "out", cwd=two_commits)
    report = (two_commits / "out/report.md").read_text()
    old = yaml.safe_load(sh("git", "show", "HEAD~1:reports/metrics.json", cwd=two_commits))
    new = read_json(two_commits / "reports/metrics.json")
    delta = new["accuracy"] - old["accuracy"]
    worse = " ⚠️ worse" if delta < 0 else ""
    assert (
        f"| accuracy | {old['accuracy']:.4f} | {new['accuracy']:.4f} | {delta:+.4f}{worse} |"
        in report
    )
    assert f"| `train.classifier.C` | {REPO_PARAMS.train.classifier['C']} | 0.01 |" in report
    assert f"Paired on {new['test_rows']} shared test rows" in report
    assert "McNemar exact test p = " in report
    assert "Evaluation rows: 0 added, 0 removed." in report
    assert sorted(p.name for p in (two_commits / "out/figures").iterdir()) == [
        "calibration.png",
        "confusion_matrix.png",
        "coverage.png",
        "precision_recall.png",
        "roc.png",
    ]
    # The same sections, in the same order, as the golden file the unit test pins.
    headings = [line for line in report.splitlines() if line.startswith("#")]
    golden = [line for line in GOLDEN.read_text().splitlines() if line.startswith("###")]
    assert headings[1:] == golden


def test_unknown_base_revision_is_a_clear_error(two_commits: Path) -> None:
    result = subprocess.run(
        ["textclf", "report", "--base", "no-such-branch", "--output", "bad"],
        cwd=two_commits,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: no-such-branch: not a git revision here. "
        "Fix: fetch the base branch (git fetch origin)\n"
    )
    assert not (two_commits / "bad").exists()


def test_pr_workflow_steps_against_the_local_stack(two_commits, local_stack, tmp_path) -> None:
    """What .github/workflows/pr-report.yml runs, in order, with the local stack for AWS."""
    env = stack.settings(local_stack)
    stack.write_settings(local_stack, two_commits)
    sh("dvc", "push", cwd=two_commits, env=env)  # what main's and the PR's pipelines left in S3
    clone = tmp_path / "clone"  # a runner's checkout: git history, no DVC cache
    sh("git", "clone", "-q", str(two_commits), str(clone), cwd=tmp_path)
    stack.write_settings(local_stack, clone)
    output = sh(
        "bash", ".github/scripts/pr-report.sh", "origin/HEAD~1", "pr-report", cwd=clone, env=env
    )
    assert "report written to pr-report/report.md" in output
    report = (clone / "pr-report/report.md").read_text()
    assert report.startswith("<!-- textclf-report -->")
    assert f"| `train.classifier.C` | {REPO_PARAMS.train.classifier['C']} | 0.01 |" in report
    assert (clone / "models/model.skops").exists()  # pulled from the stack's S3, not retrained
    assert sh("git", "status", "--porcelain", "--", "reports", cwd=clone) == ""
