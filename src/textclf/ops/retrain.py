"""Retraining: refresh the data, reproduce the pipeline, register the challenger, run the
promotion rule, push the outputs, and write a short summary. Each step is a command a person
would type, run in the repository the worker checked out. Idempotent: when `dvc repro` finds
nothing new, no model version is registered."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from textclf.core.errors import ServiceUnavailable, StepFailed
from textclf.core.files import read_json, write_json
from textclf.core.layout import Layout

REFRESH = (
    ("pull", ["dvc", "pull", "--allow-missing"]),
    ("update", ["dvc", "update", "--recursive", "data"]),  # newest data of `dvc import` sources
    ("repro", ["dvc", "repro"]),
)
REGISTER = (("register", ["textclf", "register"]), ("promote", ["textclf", "promote"]))
PUSH = (("push", ["dvc", "push"]),)
SUMMARY = Path("reports/retrain_summary.json")


def run_retrain(root: Path, env: dict[str, str] | None = None) -> dict:
    layout = Layout(root)
    before = _run_id(layout)
    summary: dict = {"steps": []}
    _steps(REFRESH, root, env, summary)
    new_run = _run_id(layout)
    if new_run is not None and new_run != before:
        _steps(REGISTER, root, env, summary)
        summary["promoted"] = summary["promote"]["promoted"]
        summary["reason"] = summary["promote"]["reason"]
    else:
        summary["promoted"] = False
        summary["reason"] = "the pipeline was up to date: no new model to register"
    _steps(PUSH, root, env, summary)
    metrics = read_json(layout.metrics)
    summary["metrics"] = {key: metrics.get(key) for key in ("accuracy", "macro_f1", "roc_auc")}
    write_json(summary, root / SUMMARY)
    return summary


def _steps(steps: tuple, root: Path, env: dict[str, str] | None, summary: dict) -> None:
    for name, command in steps:
        started = time.perf_counter()
        result = subprocess.run(
            command, cwd=root, capture_output=True, text=True, env={**os.environ, **(env or {})}
        )
        summary["steps"].append({"step": name, "seconds": round(time.perf_counter() - started, 1)})
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            # `textclf` commands exit 3 when a service did not answer: worth retrying.
            failure = ServiceUnavailable if result.returncode == 3 else StepFailed
            raise failure(
                " ".join(command),
                f"retraining stopped at the {name} step:\n  " + "\n  ".join(tail),
                "fix the cause above and run the retrain flow again (it is idempotent)",
            )
        if name in ("register", "promote"):
            summary[name] = json.loads(result.stdout)


def _run_id(layout: Layout) -> str | None:
    return read_json(layout.run_record).get("run_id") if layout.run_record.exists() else None
