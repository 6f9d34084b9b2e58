"""A hyperparameter sweep with DVC's own queue on the bundled sample, ranked by the validation
split's metric (README: Sweeps)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import copy_repo, sh
from textclf.review.sweeps import DEFAULT_METRIC, list_experiments, ranked

pytestmark = pytest.mark.integration
# Two values of one param by a second's one: DVC expands the grid; two experiments are enough
# for two at a time and a ranking (each is a train-to-track run of the sample, ~45 s). The two
# C values are far apart: on the sample's 200 validation rows, C 0.02 and 0.5 score the same.
GRID = {(0.005, 0.5), (0.5, 0.5)}


def wait_for_queue(repo: Path, timeout: float = 900) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = sh("dvc", "queue", "status", cwd=repo)
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(5)
    raise AssertionError(f"the queue did not finish in {timeout} s:\n{status}")


def test_queued_grid_runs_two_at_a_time_and_is_ranked_by_validation(
    reproduced_repo: Path, tmp_path: Path
) -> None:
    repo = copy_repo(reproduced_repo, tmp_path / "repo")
    sh("dvc", "exp", "remove", "-A", cwd=repo)  # other tests' experiments: only this sweep's
    sh(
        "dvc", "exp", "run", "--queue",
        "-S", "train.classifier.C=0.005,0.5", "-S", "train.nb_alpha=0.5",
        cwd=repo,
    )  # fmt: skip
    assert sh("dvc", "queue", "status", cwd=repo).count("Queued") == len(GRID)
    try:
        sh("dvc", "queue", "start", "-j", "2", cwd=repo)
        status = wait_for_queue(repo)
    finally:
        sh("dvc", "queue", "stop", cwd=repo, check=False)
    assert status.count("Success") == len(GRID), status

    baseline, experiments = list_experiments(repo)
    grid = {(e.params["train.classifier.C"], e.params["train.nb_alpha"]) for e in experiments}
    assert grid == GRID and not any(e.error for e in experiments)
    values = {e.name: e.value(DEFAULT_METRIC) for e in experiments}
    assert all(0.5 < value <= 1 for value in values.values())
    assert len(set(values.values())) > 1  # the grid changes the model

    shown = sh("textclf", "sweep-best", cwd=repo).splitlines()
    best = ranked(experiments)[0]
    assert values[best.name] == max(values.values())
    assert shown[-1].startswith(f"best by {DEFAULT_METRIC}: {best.name};")
    rows = [line.split()[0] for line in shown[1:-1]]
    assert rows == [baseline.name, *(e.name for e in ranked(experiments))]
    # The workspace is untouched until an experiment is applied.
    assert sh("git", "status", "--porcelain", cwd=repo) == ""
