"""DVC stage entry points (dvc.yaml runs `textclf <stage>`): read inputs, call the stage's plain
function, write outputs atomically. Each stage computes everything in memory before it writes,
so a failure leaves no partial output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textclf.core.errors import DataError, GateFailed, ParamsError
from textclf.core.files import (
    atomic_path,
    file_digest,
    read_json,
    write_csv,
    write_json,
    write_parquet,
    write_text,
)
from textclf.core.layout import Layout
from textclf.core.params import Params

if TYPE_CHECKING:  # the CLI imports this module for its stage table: keep pandas out of it
    import pandas as pd

    from textclf.ops.models import LoadedModel

log = logging.getLogger(__name__)


def run_ingest(params: Params, layout: Layout) -> dict:
    from textclf.pipeline.ingest import ingest

    result = ingest(params.dataset)
    write_parquet(result.labelled, layout.labelled)
    write_parquet(result.unlabelled, layout.unlabelled)
    return {"labelled": len(result.labelled), "unlabelled": len(result.unlabelled)}


def run_validate(params: Params, layout: Layout) -> dict:
    from textclf.pipeline.validate import validate

    table = read_stage_output(layout.labelled, "ingest")
    report = validate(table, params.dataset, params.validate, params.prepare, layout.labelled)
    write_json(report, layout.validation_report)
    return report


def run_prepare(params: Params, layout: Layout) -> dict:
    from textclf.pipeline.prepare import prepare

    table = read_stage_output(layout.labelled, "ingest")
    splits = prepare(table, params.prepare, str(layout.labelled))
    write_parquet(splits.train, layout.train_split)
    write_parquet(splits.validation, layout.validation_split)
    write_parquet(splits.test, layout.test_split)
    write_json(splits.summary, layout.prepare_summary)
    return splits.summary


def run_train(params: Params, layout: Layout) -> dict:
    import joblib

    from textclf.ml.model import check_train_params, forget_object_ids
    from textclf.pipeline.train import train

    check_train_params(params.train, params.prepare)  # before the data is read
    if params.train.calibration != "none" and params.prepare.validation_size == 0:
        raise ParamsError(
            "train.calibration",
            f"calibration '{params.train.calibration}' is fitted on the validation split, "
            "and prepare.validation_size is 0",
            "set prepare.validation_size (e.g. 0.1), or train.calibration: none",
        )
    if params.mlflow.enabled:  # fail now, not after the fit, if the run cannot be tracked
        from textclf.ops.tracking import connect

        connect(layout.root, fallback_to_local=params.mlflow.fallback_to_local)
    train_split = read_stage_output(layout.train_split, "prepare")
    validation = read_stage_output(layout.validation_split, "prepare")
    unlabelled = (
        read_stage_output(layout.unlabelled, "ingest")["text"].tolist()
        if params.train.word_vectors is not None
        else []
    )
    trained = train(train_split, validation, params, unlabelled)
    with atomic_path(layout.model) as tmp:
        joblib.dump(forget_object_ids(trained.model), tmp)
    write_json(trained.stats, layout.train_stats)
    return trained.stats


def run_evaluate(params: Params, layout: Layout) -> dict:
    from textclf.ops.models import load_model
    from textclf.pipeline.evaluate import evaluate
    from textclf.pipeline.figures import save_figures

    model = load_model(layout.model).pipeline
    test = read_stage_output(layout.test_split, "prepare")
    batch = params.batch
    result = evaluate(model, test, params.evaluate, params.predict, batch.workers, batch.chunk_rows)
    write_json(result.metrics, layout.metrics)
    write_csv(result.predictions, layout.predictions)
    for name, curve in result.curves.items():
        write_csv(curve, layout.plots / f"{name}.csv")
    write_csv(result.worst_errors, layout.worst_errors)
    save_figures(result.predictions, result.curves, layout.figures)
    return result.metrics


def run_behaviour(params: Params, layout: Layout) -> dict:
    """Behaviour tests of the model; writes the report, then fails if a gated test failed."""
    from textclf.ml.behaviour import gate_problem
    from textclf.ops.models import load_model

    model = load_model(layout.model)
    test = read_stage_output(layout.test_split, "prepare")
    report = behaviour_report(model, test["text"].tolist(), params, layout.root)
    write_json(report, layout.behaviour_report)
    problem = gate_problem(report)
    if problem:
        raise GateFailed(
            layout.model,
            problem,
            f"see the failing examples in {layout.behaviour_report}; improve the model, or "
            "knowingly raise behaviour.max_failure_rate",
        )
    return report["summary"]


def behaviour_report(model: LoadedModel, test_texts: list[str], params: Params, root: Path) -> dict:
    """The behaviour suite that params name (relative to `root`), run on `model`; an empty
    report when the dataset has none."""
    from textclf.ml.behaviour import load_suite, run_suite

    settings = params.behaviour
    if settings.suite is None:
        summary = {"tests": 0, "passed": 0, "gate_failures": 0}
        return {"suite": None, "summary": summary, "failed_gates": [], "tests": {}}
    suite = load_suite(root / settings.suite, model.classes, test_texts, settings)
    return run_suite(suite, model.score, settings)


def run_card(params: Params, layout: Layout) -> dict:
    from textclf.pipeline.model_card import model_card

    card = model_card(params, layout)
    write_text(card, layout.model_card)
    return {"model_card": str(layout.model_card), "lines": card.count("\n")}


def run_track(params: Params, layout: Layout) -> dict:
    if not params.mlflow.enabled:
        record = {"tracking": "disabled"}
    else:
        from textclf.ops.models import load_model
        from textclf.pipeline.track import RunInputs, log_run

        test = read_stage_output(layout.test_split, "prepare")
        inputs = RunInputs(
            params=params,
            model=load_model(layout.model).pipeline,
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


def run_register(
    params: Params, layout: Layout, name: str | None = None, allow_uncommitted: bool = False
) -> dict:
    """Register the tracked model, tagged with the commit whose dvc.lock names it."""
    from textclf.ops.gitrepo import UNCOMMITTED, commit_for_model
    from textclf.ops.registry import register
    from textclf.ops.tracking import connect
    from textclf.pipeline.track import load_run_record

    record = load_run_record(layout.run_record)
    uri = connect(layout.root)
    if record["tracking_uri"] != uri:
        raise DataError(
            layout.run_record,
            f"the run was tracked to {record['tracking_uri']}, but tracking now goes to {uri}",
            "track the model where it will be registered: "
            "`dvc repro --force --single-item track`",
        )
    model_md5 = file_digest(layout.model)
    commit = commit_for_model(layout.root, model_md5)
    if commit is None and not allow_uncommitted:
        raise DataError(
            layout.root / "dvc.lock",
            f"the committed dvc.lock (HEAD) does not name this model (md5 {model_md5}), so no "
            "commit could give it back",
            "commit the pipeline's results first (git add dvc.lock params.yaml reports data "
            "&& git commit), then register; for a throwaway experiment, --allow-uncommitted",
        )
    tags = {"git_commit": commit or UNCOMMITTED, "model_md5": model_md5}
    if commit is None:
        tags["registered_uncommitted"] = "true"
    return register(record, name or params.registry.model_name, tags)


def run_promote(params: Params, layout: Layout, name: str | None = None) -> dict:
    """The promotion rule, for a challenger whose commit is on the git remote (and merged into
    retrain.base_branch when retrain.promotion is `merged`) and that passes the behaviour
    tests (run again here, on the registered model itself)."""
    from textclf.ml.behaviour import gate_problem
    from textclf.ops.registry import promote
    from textclf.ops.tracking import connect

    connect(layout.root)
    test = read_stage_output(layout.test_split, "prepare")
    decision = promote(
        name or params.registry.model_name,
        test,
        params.registry.metric,
        params.registry.min_improvement,
        lambda version: release_blocker(version.tags, params, layout.root),
        lambda model: gate_problem(
            behaviour_report(model, test["text"].tolist(), params, layout.root)
        ),
    )
    return decision.as_dict()


def release_blocker(tags: dict[str, str], params: Params, root: Path) -> str | None:
    """Why a registered version may not become champion yet, or None."""
    from textclf.ops import gitrepo

    commit = tags.get("git_commit", gitrepo.UNCOMMITTED)
    if commit in ("", gitrepo.UNCOMMITTED, "unknown"):
        return "it was registered without a commit (--allow-uncommitted)"
    if not gitrepo.has_remote(root):
        log.warning("no git remote 'origin' here: cannot check that %s is pushed", commit)
        return None
    if not gitrepo.on_remote(root, commit):
        return f"its commit {commit[:12]} is not on the git remote"
    base = params.retrain.base_branch
    if params.retrain.promotion == "merged" and not gitrepo.merged(root, commit, base):
        return f"its commit {commit[:12]} is not merged into {base} yet (retrain.promotion)"
    return None


# name -> (entry point, what it does); `textclf <name>` runs it, dvc.yaml names the same stages.
STAGES: dict[str, tuple[Callable[[Params, Layout], dict], str]] = {
    "ingest": (run_ingest, "Read the raw dataset named in the params into data/interim/."),
    "validate": (
        run_validate,
        "Check schema and content; write reports/validation.json or name the bad rows.",
    ),
    "prepare": (run_prepare, "Normalise text and split into data/prepared/{train,test}.parquet."),
    "train": (run_train, "Fit the params-defined pipeline; write models/model.joblib."),
    "evaluate": (
        run_evaluate,
        "Score the test split; write metrics, plots, figures and worst errors.",
    ),
    "behaviour": (
        run_behaviour,
        "Run the behaviour suite (behaviour.suite) on the model; fail if a gated test fails.",
    ),
    "card": (run_card, "Write the model card, reports/model_card.md."),
    "track": (run_track, "Log the run to MLflow (MLFLOW_TRACKING_URI, else ./mlflow.db)."),
}


def run_stage(name: str, params: Params, layout: Layout) -> dict:
    """Run one stage and note how long it took (for MLflow, never in a tracked file)."""
    started = time.perf_counter()
    summary = STAGES[name][0](params, layout)
    timings = read_json(layout.timings) if layout.timings.exists() else {}
    timings[name] = round(time.perf_counter() - started, 2)
    write_json(timings, layout.timings)
    log.info("%s finished in %.1f s", name, timings[name])
    return summary


def read_stage_output(path: Path, producer: str) -> pd.DataFrame:
    import pandas as pd

    if not path.exists():
        raise DataError(path, "input is missing", f"run the {producer} stage first (dvc repro)")
    return pd.read_parquet(path)
