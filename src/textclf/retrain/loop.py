"""Retraining: new labelled data in, a reproducible model out, every retrain a commit on the git
remote and a pull request.

It runs in a working tree of its own at the newest commit of `retrain.base_branch` (a `git
worktree` of the checkout it is started from, whose `origin` is the remote it pushes to), with
that commit's own locked environment (`uv run --frozen`), so the code that trains is the code the
commit names. The checkout's working tree, its environment and its settings files are only read
(`.dvc/config.local`: the DVC remote; its DVC cache is shared). The environments are kept between
runs, one per uv.lock (`retrain_environment`): a run whose lock an earlier run had installs only
the project itself, from its tree; runs that share one take turns (a file lock).

Steps: pull the data, fold new labelled files in (textclf.retrain.deliveries), `dvc repro`; when
dvc.lock changed, commit it with the reports and deliveries on `retrain/<UTC time>`, push the DVC
outputs, then the branch, register the model (its `git_commit` tag names that commit), apply the
promotion policy, and open a pull request whose body is the metric report against the base
branch and the champion. Nothing is registered before its commit is on the remote; a failed step
leaves no branch and no version, and the next run does the work again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pandas as pd

from textclf.core import gitrepo
from textclf.core.errors import ServiceUnavailable, StepFailed
from textclf.core.layout import Layout
from textclf.ml.params import load_params
from textclf.retrain.deliveries import fold_in
from textclf.retrain.github import open_pull_request, repository_from_remote

log = logging.getLogger(__name__)
RESULTS = ("dvc.lock", "params.yaml", "reports", "data")  # what a retraining commit holds
ENVIRONMENTS_ENV = "TEXTCLF_RETRAIN_ENVIRONMENTS"


def environments_folder() -> Path:
    """Where retraining keeps its environments: TEXTCLF_RETRAIN_ENVIRONMENTS, else the user's
    cache folder (XDG_CACHE_HOME, else ~/.cache) under textclf/."""
    if os.environ.get(ENVIRONMENTS_ENV):
        return Path(os.environ[ENVIRONMENTS_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "textclf" / "retrain-environments"


def retrain_environment(tree: Path) -> Path:
    """The environment a tree runs in: one per uv.lock and Python version."""
    key = hashlib.sha256((tree / "uv.lock").read_bytes() + sys.version.encode()).hexdigest()
    return environments_folder() / key[:16]


class Retraining:
    """One retraining run: its tree, its steps and their timings."""

    def __init__(self, checkout: Path, env: dict[str, str] | None) -> None:
        self.checkout = checkout.resolve()
        self.env = {**os.environ, **(env or {})}
        for inherited in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"):  # open_tree sets its own
            self.env.pop(inherited, None)
        self.summary: dict = {"steps": []}
        self.tree = Path(tempfile.mkdtemp(prefix="textclf-retrain-")) / "tree"
        self._environment_lock: IO[str] | None = None

    def step(self, name: str, *command: str, run: bool = True) -> str:
        """Run a command in the tree with the tree's environment; `textclf` exits 3 when a
        service did not answer, which stays worth retrying."""
        started = time.perf_counter()
        argv = ["uv", "run", "--frozen", "--no-dev", *command] if run else list(command)
        result = subprocess.run(argv, cwd=self.tree, capture_output=True, text=True, env=self.env)
        seconds = round(time.perf_counter() - started, 1)
        self.summary["steps"].append({"step": name, "seconds": seconds})
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-6:]
            failure = ServiceUnavailable if result.returncode == 3 else StepFailed
            raise failure(
                " ".join(command),
                f"retraining stopped at the {name} step:\n  " + "\n  ".join(tail),
                "fix the cause above and run retraining again; nothing was published",
            )
        log.info("%s: %.1f s", name, seconds)
        return result.stdout

    def open_tree(self, base: str) -> str:
        gitrepo.git(self.checkout, "fetch", "--quiet", "origin", base)
        commit = gitrepo.git(self.checkout, "rev-parse", f"origin/{base}")
        gitrepo.git(self.checkout, "worktree", "add", "--quiet", "--detach", str(self.tree), commit)
        local = self.checkout / ".dvc" / "config.local"
        if local.exists():
            shutil.copyfile(local, self.tree / ".dvc" / "config.local")
        self._use_environment(retrain_environment(self.tree))
        self.step(
            "cache",
            "dvc",
            "cache",
            "dir",
            "--local",
            str(self.checkout / ".dvc" / "cache"),
            run=False,
        )
        return commit

    def _use_environment(self, environment: Path) -> None:
        """Run the tree's commands in `environment` (uv creates or updates it at the first
        step), holding its lock until the tree closes."""
        environment.parent.mkdir(parents=True, exist_ok=True)
        self._environment_lock = open(environment.with_suffix(".lock"), "w")  # noqa: SIM115
        fcntl.flock(self._environment_lock, fcntl.LOCK_EX)  # another run may be using it
        self.env["UV_PROJECT_ENVIRONMENT"] = str(environment)

    def close_tree(self) -> None:
        if self._environment_lock is not None:
            self._environment_lock.close()  # releases the lock
            self._environment_lock = None
        gitrepo.git(self.checkout, "worktree", "remove", "--force", str(self.tree), check=False)
        gitrepo.git(self.checkout, "worktree", "prune", check=False)
        shutil.rmtree(self.tree.parent, ignore_errors=True)


def run_retrain(
    checkout: Path, reason: str = "scheduled", env: dict[str, str] | None = None
) -> dict:
    """Retrain from the newest base branch; returns what happened (and is idempotent)."""
    settings = load_params(checkout / "params.yaml").retrain
    run = Retraining(checkout, env)
    summary = run.summary
    summary["reason_started"] = reason
    try:
        summary["base_commit"] = run.open_tree(settings.base_branch)
        run.step("pull", "dvc", "pull", "--allow-missing")
        params = load_params(run.tree / "params.yaml")
        layout = Layout(run.tree)
        folder = run.tree / params.dataset.deliveries
        known = pd.Series(dtype=str)
        if layout.labelled.exists():
            known = pd.read_parquet(layout.labelled, columns=["text"])["text"]
        started = time.perf_counter()
        folded = fold_in(
            params.retrain.labelled_input,
            folder,
            params.dataset,
            params.prepare.normalize,
            known,
            proposed_deliveries(run.checkout, settings.branch_prefix),
        )
        summary["labelled"] = folded.as_dict()
        summary["steps"].append(
            {"step": "fold in", "seconds": round(time.perf_counter() - started, 1)}
        )
        for item in folded.added:
            run.step("track delivery", "dvc", "add", item["file"])
        if reason == "drift" and not folded.added:
            summary["outcome"] = (
                "drift detected, but there is no new labelled data to retrain on: "
                "nothing was retrained"
            )
            log.warning(summary["outcome"])
            return summary
        run.step("repro", "dvc", "repro")
        if not gitrepo.git(run.tree, "status", "--porcelain", "--", "dvc.lock"):
            summary["outcome"] = "the pipeline was up to date: no new model to register"
            return summary
        branch = settings.branch_prefix + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        metrics = json.loads((layout.metrics).read_text())
        gitrepo.git(run.tree, "checkout", "--quiet", "-b", branch)
        gitrepo.git(run.tree, "add", "--", *RESULTS)
        gitrepo.git(
            run.tree,
            "-c",
            "user.name=textclf retrain",
            "-c",
            "user.email=retrain@textclf.invalid",
            "commit",
            "--quiet",
            "-m",
            f"Retrain ({reason}): {folded.rows} new labelled rows, "
            f"accuracy {metrics['accuracy']:.4f}",
        )
        summary["branch"] = branch
        summary["commit"] = gitrepo.git(run.tree, "rev-parse", "HEAD")
        run.step("push data", "dvc", "push")
        run.step("push branch", "git", "push", "--quiet", "origin", branch, run=False)
        try:
            summary["register"] = json.loads(run.step("register", "textclf", "register"))
        except Exception:
            # A pushed branch without its registered version would look done to the next run
            # (its deliveries count as proposed): take it back, so the next run redoes it all.
            gitrepo.git(run.tree, "push", "--quiet", "origin", "--delete", branch, check=False)
            raise
        if params.retrain.promotion == "rule":
            summary["promote"] = json.loads(run.step("promote", "textclf", "promote"))
        report = run.step("report", "textclf", "report", "--base", f"origin/{settings.base_branch}")
        summary["pull_request"] = pull_request(run, params.retrain, branch, report)
        summary["outcome"] = f"registered version {summary['register']['version']} from {branch}"
        return summary
    finally:
        run.close_tree()
        if "branch" in summary:
            gitrepo.git(run.checkout, "branch", "--quiet", "-D", summary["branch"], check=False)


def proposed_deliveries(checkout: Path, prefix: str) -> set[str]:
    """Fingerprints of deliveries that a retraining branch on the remote already holds, so a
    file is proposed once, not again on every run until its pull request is merged."""
    gitrepo.git(
        checkout,
        "fetch",
        "--quiet",
        "origin",
        f"+refs/heads/{prefix}*:refs/remotes/origin/{prefix}*",
    )
    found = set()
    for ref in gitrepo.git(
        checkout, "for-each-ref", "--format=%(refname)", f"refs/remotes/origin/{prefix}"
    ).split():
        names = gitrepo.git(checkout, "ls-tree", "--name-only", ref, "data/labelled/", check=False)
        found |= {
            Path(name).name.split(".")[0] for name in names.split() if name.endswith(".parquet.dvc")
        }
    return found


def pull_request(run: Retraining, settings, branch: str, report: str) -> dict:
    remote = gitrepo.git(run.checkout, "remote", "get-url", "origin")
    repository = settings.github_repository or repository_from_remote(remote)
    if repository is None:
        why = f"the remote {remote} is not on GitHub and retrain.github_repository is not set"
        log.warning("no pull request opened for %s: %s", branch, why)
        return {"opened": False, "why": why}
    title = f"Retrain: {branch}"
    opened = open_pull_request(
        settings.github_api, repository, branch, settings.base_branch, title, report
    )
    if opened is None:
        return {
            "opened": False,
            "why": "no GitHub token (GITHUB_TOKEN): the branch is pushed, "
            "no pull request was opened",
        }
    return {"opened": True, "number": opened.number, "url": opened.url}
