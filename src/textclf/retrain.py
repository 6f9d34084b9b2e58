"""Retraining: refresh the data, reproduce the pipeline, register the challenger, run the
promotion rule, push the outputs, and write a short summary. Each step is a command a person
would type, run in the repository the worker checked out."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from textclf.errors import DataError
from textclf.files import write_json

STEPS = (
    ("pull", ["dvc", "pull", "--allow-missing"]),
    ("update", ["dvc", "update", "--recursive", "data"]),  # newest data of `dvc import` sources
    ("repro", ["dvc", "repro"]),
    ("register", ["textclf", "register"]),
    ("promote", ["textclf", "promote"]),
    ("push", ["dvc", "push"]),
)
SUMMARY = Path("reports/retrain_summary.json")


def run_retrain(root: Path, env: dict[str, str] | None = None) -> dict:
    summary: dict = {"steps": []}
    for name, command in STEPS:
        started = time.perf_counter()
        result = subprocess.run(
            command, cwd=root, capture_output=True, text=True, env={**os.environ, **(env or {})}
        )
        step = {"step": name, "seconds": round(time.perf_counter() - started, 1)}
        summary["steps"].append(step)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise DataError(
                " ".join(command),
                f"retraining stopped at the {name} step:\n  " + "\n  ".join(tail),
                "fix the cause above and run the retrain flow again (it is idempotent)",
            )
        if name in ("register", "promote"):
            summary[name] = json.loads(result.stdout)
    metrics = json.loads((root / "reports/metrics.json").read_text())
    summary["metrics"] = {key: metrics.get(key) for key in ("accuracy", "macro_f1", "roc_auc")}
    summary["promoted"] = summary["promote"]["promoted"]
    summary["reason"] = summary["promote"]["reason"]
    write_json(summary, root / SUMMARY)
    return summary
