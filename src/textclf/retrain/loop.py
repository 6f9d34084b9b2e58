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

import contextlib
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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd

from textclf.core import gitrepo
from textclf.core.errors import ServiceUnavailable, StepFailed, TextclfError
from textclf.core.layout import Layout
from textclf.ml.params import load_params
from textclf.retrain.deliveries import fold_in
from textclf.retrain.evidence import keep_evidence
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

    def __init__(
        self,
        checkout: Path,
        env: dict[str, str] | None,
        on_step: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.checkout = checkout.resolve()
        self.on_step = on_step  # told each step as it starts (the CLI prints it, the flow logs it)
        self.step_log: list[str] = []  # every step's command and output: the evidence's steps.log
        self.report: str | None = None  # the pull-request report body, once made
        self.env = {**os.environ, **(env or {})}
        for inherited in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"):  # open_tree sets its own
            self.env.pop(inherited, None)
        # compiled once when uv installs the environment: where PYTHONDONTWRITEBYTECODE is set
        # (this project's machines), an uncompiled one recompiles every import in every step,
        # which doubled a retrain's `dvc repro` (110 s against 54 s on the sample)
        self.env.setdefault("UV_COMPILE_BYTECODE", "1")
        self.summary: dict = {"steps": []}
        self.tree = Path(tempfile.mkdtemp(prefix="textclf-retrain-")) / "tree"
        self._environment_lock: IO[str] | None = None

    def step(self, name: str, *command: str, run: bool = True) -> str:
        """Run a command in the tree with the tree's environment; `textclf` exits 3 when a
        service did not answer, which stays worth retrying."""
        started = time.perf_counter()
        self.on_step(f"retrain: {name} ...")
        argv = ["uv", "run", "--frozen", "--no-dev", *command] if run else list(command)
        result = subprocess.run(argv, cwd=self.tree, capture_output=True, text=True, env=self.env)
        seconds = round(time.perf_counter() - started, 1)
        self.summary["steps"].append({"step": name, "seconds": seconds})
        self.step_log.append(
            f"== {name}: $ {' '.join(argv)}\n{result.stdout}{result.stderr}"
            f"== exit {result.returncode} after {seconds} s\n"
        )
        if result.returncode != 0:
            self.summary["failed_step"] = name
            tail = (result.stderr or result.stdout).strip().splitlines()[-6:]
            failure = ServiceUnavailable if result.returncode == 3 else StepFailed
            raise failure(
                " ".join(command),
                f"retraining stopped at the {name} step:\n  " + "\n  ".join(tail),
                "fix the cause above and run retraining again; nothing was published",
            )
        log.info("%s: %.1f s", name, seconds)
        return result.stdout

    @contextlib.contextmanager
    def in_process(self, name: str) -> Iterator[None]:
        """A step that runs in this process (not a command): announced, timed, and named as
        the failed step if it raises."""
        self.on_step(f"retrain: {name} ...")
        started = time.perf_counter()
        try:
            yield
        except BaseException as error:
            self.summary["failed_step"] = name
            self.step_log.append(f"== {name} (in process) failed: {error}\n")
            raise
        finally:
            seconds = round(time.perf_counter() - started, 1)
            self.summary["steps"].append({"step": name, "seconds": seconds})

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
    checkout: Path,
    reason: str = "scheduled",
    env: dict[str, str] | None = None,
    on_step: Callable[[str], None] = lambda line: None,
) -> dict:
    """Retrain from the newest base branch; returns what happened (and is idempotent). Success
    or failure, the retrain is recorded as an MLflow run (retrain/evidence.py): the summary's
    `evidence`, or the error's fix, says where."""
    checkout_params = load_params(checkout / "params.yaml")
    settings = checkout_params.retrain
    run = Retraining(checkout, env, on_step)
    summary = run.summary
    summary["reason_started"] = reason
    failure: BaseException | None = None
    try:
        return _retrain(run, summary, reason, settings)
    except BaseException as error:
        failure = error
        raise
    finally:
        where = keep_evidence(
            run.checkout,
            run.tree,
            checkout_params.registry.model_name,
            summary,
            "".join(run.step_log),
            run.report,
            failure,
        )
        summary["evidence"] = where
        on_step(f"retrain: evidence in {where or 'no MLflow run (see the warning above)'}")
        if isinstance(failure, TextclfError) and where:
            failure.fix = f"{failure.fix}; every step's output and the reports: {where}"
        run.close_tree()
        if "branch" in summary:
            gitrepo.git(run.checkout, "branch", "--quiet", "-D", summary["branch"], check=False)


def _retrain(run: Retraining, summary: dict, reason: str, settings: Any) -> dict:
    """run_retrain's steps, in its tree."""
    summary["base_commit"] = run.open_tree(settings.base_branch)
    run.step("pull", "dvc", "pull", "--allow-missing")
    params = load_params(run.tree / "params.yaml")
    layout = Layout(run.tree)
    folder = run.tree / params.dataset.deliveries
    known = pd.DataFrame({"text": pd.Series(dtype=str), "label": pd.Series(dtype=str)})
    if layout.labelled.exists():
        known = pd.read_parquet(layout.labelled, columns=["text", "label"])
    # The classes are params' (dataset.labels) or, failing that, the dataset's own so far.
    classes = params.dataset.labels or sorted(known["label"].astype(str).unique()) or None
    with run.in_process("fold in"):
        folded = fold_in(
            params.retrain.labelled_input,
            folder,
            params.dataset,
            params.prepare.normalize,
            known["text"],
            proposed_deliveries(run.checkout, settings.branch_prefix),
            classes,
        )
    summary["labelled"] = folded.as_dict()
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
    run.report = run.step("report", "textclf", "report", "--base", f"origin/{settings.base_branch}")
    summary["pull_request"] = pull_request(run, params.retrain, branch, run.report)
    summary["outcome"] = f"registered version {summary['register']['version']} from {branch}"
    return summary


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
