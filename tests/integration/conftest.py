"""A throwaway copy of this repository, as a fresh clone would be, for end-to-end DVC runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port


def sh(*args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> str:
    result = subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def clone_repo(target: Path) -> Path:
    """Copy the files git tracks (a clean checkout) into `target` and commit them."""
    tracked = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    sh("git", "init", "-q", "-b", "main", cwd=target)
    sh("git", "config", "user.email", "ci@example.com", cwd=target)
    sh("git", "config", "user.name", "CI", cwd=target)
    sh("git", "add", "-A", cwd=target)
    sh("git", "commit", "-qm", "clone", cwd=target)
    return target


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def reproduced_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository after `dvc repro` on the bundled sample, committed as the base."""
    repo = clone_repo(tmp_path_factory.mktemp("repo"))
    sh("dvc", "repro", cwd=repo)
    # What `make` promises on a fresh clone: the committed dvc.lock and reports describe what
    # the pipeline reproduces, and nothing run-specific lands in a tracked file.
    (repo / ".git" / "status-after-repro").write_text(sh("git", "status", "--porcelain", cwd=repo))
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-q", "--allow-empty", "-m", "reproduced", cwd=repo)
    return repo


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory):
    """The real local stack (moto S3, MLflow server, Prefect server) on free loopback ports."""
    from textclf.infra import stack

    config = stack.StackConfig(
        state_dir=tmp_path_factory.mktemp("stack"),
        s3_port=free_port(),
        mlflow_port=free_port(),
        prefect_port=free_port(),
    )
    stack.up(config, root=config.state_dir)
    yield config
    stack.down(config, root=config.state_dir)


def copy_repo(source: Path, target: Path) -> Path:
    """A copy of a reproduced repository, DVC cache and git history included."""
    shutil.copytree(source, target, symlinks=True)
    return target


def register_champion(repo: Path, env: dict[str, str], name: str) -> None:
    sh("dvc", "repro", "--force", "--single-item", "track", cwd=repo, env=env)
    sh("textclf", "register", "--name", name, cwd=repo, env=env)
    sh("textclf", "promote", "--name", name, cwd=repo, env=env)


@pytest.fixture(scope="module")
def champion_repo(reproduced_repo: Path, tmp_path_factory) -> Path:
    repo = copy_repo(reproduced_repo, tmp_path_factory.mktemp("flows") / "repo")
    register_champion(
        repo, {"MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'flows.db'}"}, "textclf-imdb"
    )
    return repo


# A temporary Prefect server starts in about 15 s here; Prefect's default wait (30 s) is too
# short on a loaded machine (a sweep's two experiments beside it).
HARNESS_STARTUP_SECONDS = 120
