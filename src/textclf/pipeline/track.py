"""Track: log the pipeline's result as an MLflow run (params, metrics, plots, the model with its
signature, git commit, data hashes, stage timings).

Idempotent: a run is identified by a fingerprint of what it records (model, metrics, data and
params); when the tracking store already holds that run, it is reused, so `dvc repro` can run
this stage every time and a fresh clone's first `dvc repro` still tracks its model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textclf.core.files import file_digest, read_json, write_json
from textclf.core.gitrepo import UNCOMMITTED, commit_for_model
from textclf.core.layout import Layout
from textclf.core.params import Params, flatten
from textclf.core.tables import read_stage_output
from textclf.ml.persist import load_model_file
from textclf.registry.models import LOGGED_NAME, log_pipeline
from textclf.registry.tracking import connect, experiment_id

FINGERPRINT_TAG = "textclf.fingerprint"

log = logging.getLogger(__name__)


@dataclass
class RunInputs:
    """What a run logs, gathered by the stage from the pipeline's outputs."""

    params: Params
    model: Any
    metrics: dict[str, Any]
    behaviour: dict[str, Any]
    train_stats: dict[str, Any]
    timings: dict[str, float]
    example_texts: list[str]
    data_hashes: dict[str, str]  # name -> md5, the model's included as "model"
    artifacts: dict[str, Path]  # artifact folder -> file or directory

    def fingerprint(self) -> str:
        content = json.dumps(
            [
                self.params.as_dict(),
                self.metrics,
                self.behaviour,
                self.train_stats,
                self.data_hashes,
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(content.encode()).hexdigest()


def log_run(inputs: RunInputs, root: Path) -> dict[str, str]:
    uri = connect(root, fallback_to_local=inputs.params.mlflow.fallback_to_local)
    import mlflow

    experiment = experiment_id(inputs.params.mlflow.experiment, uri)
    fingerprint = inputs.fingerprint()
    code_commit, dirty = git_commit(root)
    # The commit whose dvc.lock names this model, if HEAD's does: only then can `git checkout`
    # plus `dvc pull` give it back. Otherwise registration asks for the commit first.
    commit = commit_for_model(root, inputs.data_hashes["model"]) or UNCOMMITTED
    existing = mlflow.search_runs(
        experiment_ids=[experiment],
        filter_string=f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}'",
        output_format="list",
        max_results=1,
    )
    if existing:
        run = existing[0]
        log.info("already tracked as run %s", run.info.run_id)
        model_id = run.outputs.model_outputs[0].model_id if run.outputs.model_outputs else ""
        return _record(
            uri,
            experiment,
            run.info.run_id,
            run.data.tags.get("git_commit", commit),
            f"models:/{model_id}",
        )
    tags = {
        "git_commit": commit,
        "git_code_commit": code_commit,
        "git_dirty": str(dirty).lower(),
        "dataset": inputs.params.dataset.name,
        "dataset_source": inputs.params.dataset.source,
        FINGERPRINT_TAG: fingerprint,
        **{f"data_md5.{name}": digest for name, digest in inputs.data_hashes.items()},
    }
    run_name = f"{inputs.params.dataset.name}-{code_commit[:8]}"
    with mlflow.start_run(experiment_id=experiment, run_name=run_name, tags=tags) as run:
        mlflow.log_params(dict(flatten(inputs.params.as_dict())))
        numeric = {
            **inputs.metrics,
            "train": _numbers(inputs.train_stats),
            "seconds": inputs.timings,
            "behaviour": {
                name: {"failure_rate": test["failure_rate"]}
                for name, test in inputs.behaviour.get("tests", {}).items()
            },
        }
        mlflow.log_metrics({_metric_key(k): v for k, v in flatten(numeric) if _is_number(v)})
        for folder, path in inputs.artifacts.items():
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=folder)
            elif path.exists():
                mlflow.log_artifact(str(path), artifact_path=folder)
        logged_model_uri = log_pipeline(inputs.model, inputs.example_texts, tags)
    log.info("tracked run %s at %s", run.info.run_id, uri)
    return _record(uri, experiment, run.info.run_id, commit, logged_model_uri)


def _record(
    uri: str, experiment_id: str, run_id: str, commit: str, logged_model_uri: str
) -> dict[str, str]:
    return {
        "tracking_uri": uri,
        "experiment_id": experiment_id,
        "run_id": run_id,
        "model_uri": f"runs:/{run_id}/{LOGGED_NAME}",
        "logged_model_uri": logged_model_uri,
        "git_commit": commit,
    }


def git_commit(root: Path) -> tuple[str, bool]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown", True


def _metric_key(key: str) -> str:
    return "".join(char if char.isalnum() or char in "_-./ " else "_" for char in key)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(stats: dict[str, Any]) -> dict[str, Any]:
    """The numbers of `stats`, nested sections (e.g. the validation metrics) included."""
    return {
        key: _numbers(value) if isinstance(value, dict) else value
        for key, value in stats.items()
        if _is_number(value) or isinstance(value, dict)
    }


def run(params: Params, layout: Layout) -> dict:
    """The track stage: the run, its metrics and its model logged to MLflow."""
    if not params.mlflow.enabled:
        record = {"tracking": "disabled"}
    else:
        test = read_stage_output(layout.test_split, "prepare")
        inputs = RunInputs(
            params=params,
            model=load_model_file(layout.model).pipeline,
            metrics=read_json(layout.metrics),
            behaviour=read_json(layout.behaviour_report),
            train_stats=read_json(layout.train_stats),
            timings=read_json(layout.timings) if layout.timings.exists() else {},
            example_texts=test["text"].head(3).tolist(),
            data_hashes={
                "train": file_digest(layout.train_split),
                "validation": file_digest(layout.validation_split),
                "test": file_digest(layout.test_split),
                "model": file_digest(layout.model),
            },
            artifacts={
                "plots": layout.plots,
                "figures": layout.figures,
                "reports": layout.validation_report,
                "behaviour": layout.behaviour_report,
                "model_card": layout.model_card,
                "errors": layout.worst_errors,
                "predictions": layout.predictions,
            },
        )
        record = log_run(inputs, layout.root)
    write_json(record, layout.run_record)
    return record
