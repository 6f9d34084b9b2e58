"""What git says about a checkout: the commit that describes a model, and whether a commit is on
the remote. Used to keep a registered version's `git_commit` tag true: it always names a commit
whose dvc.lock names that model, so `git checkout` + `dvc pull` gives the model back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from textclf.core.errors import StepFailed

MODEL_OUT = "models/model.skops"
UNCOMMITTED = "uncommitted"


def git(root: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise StepFailed(
            f"git {' '.join(args)}",
            result.stderr.strip() or f"exit code {result.returncode}",
            "see git's message",
        )
    return result.stdout.strip()


def is_repository(root: Path) -> bool:
    return git(root, "rev-parse", "--git-dir", check=False) != ""


def locked_model_md5(lock_text: str) -> str | None:
    """The md5 that a dvc.lock records for the trained model."""
    lock = yaml.safe_load(lock_text) or {}
    for out in lock.get("stages", {}).get("train", {}).get("outs", []):
        if out.get("path") == MODEL_OUT:
            return out.get("md5")
    return None


def commit_for_model(root: Path, model_md5: str) -> str | None:
    """HEAD, when the dvc.lock committed there names this model; else None (the lock that
    describes it is not committed yet)."""
    if not is_repository(root):
        return None
    head = git(root, "rev-parse", "HEAD", check=False)
    committed = git(root, "show", "HEAD:dvc.lock", check=False)
    return head if head and locked_model_md5(committed) == model_md5 else None


def has_remote(root: Path, remote: str = "origin") -> bool:
    return remote in git(root, "remote", check=False).split()


def on_remote(root: Path, commit: str, remote: str = "origin") -> bool:
    """Whether a branch of `remote` contains `commit` (after fetching its branches)."""
    git(root, "fetch", "--quiet", remote)
    return bool(git(root, "branch", "--remotes", "--contains", commit, check=False))


def merged(root: Path, commit: str, branch: str, remote: str = "origin") -> bool:
    git(root, "fetch", "--quiet", remote, branch)
    result = subprocess.run(
        ["git", "merge-base", "--is-ancestor", commit, f"{remote}/{branch}"], cwd=root
    )
    return result.returncode == 0
