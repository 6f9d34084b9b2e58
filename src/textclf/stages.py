"""DVC stage entry points: read inputs, call the plain functions, write outputs atomically.

Each stage computes everything in memory before it writes, so a failure leaves no partial output.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd

from textclf.errors import DataError
from textclf.files import (
    atomic_path,
    file_digest,
    read_json,
    write_csv,
    write_json,
    write_parquet,
)
from textclf.layout import Layout
from textclf.params import Params


def run_ingest(params: Params, layout: Layout) -> dict:
    from textclf.ingest import ingest

    result = ingest(params.dataset)
    write_parquet(result.labelled, layout.labelled)
    write_parquet(result.unlabelled, layout.unlabelled)
    return {"labelled": len(result.labelled), "unlabelled": len(result.unlabelled)}


def run_validate(params: Params, layout: Layout) -> dict:
    from textclf.validate import validate

    table = _read_parquet(layout.labelled, "ingest")
    report = validate(table, params.dataset, params.validate, layout.labelled)
    write_json(report, layout.validation_report)
    return report


def run_prepare(params: Params, layout: Layout) -> dict:
    from textclf.prepare import prepare

    table = _read_parquet(layout.labelled, "ingest")
    splits = prepare(table, params.prepare, str(layout.labelled))
    write_parquet(splits.train, layout.train_split)
    write_parquet(splits.test, layout.test_split)
    write_json(splits.summary, layout.prepare_summary)
    return splits.summary


def run_train(params: Params, layout: Layout) -> dict:
    from textclf.model import forget_object_ids
    from textclf.train import train

    if params.mlflow.enabled:  # fail now, not after the fit, if the run cannot be tracked
        from textclf.tracking import reachable_tracking_uri

        reachable_tracking_uri(layout.root, params.mlflow.fallback_to_local)
    trained = train(_read_parquet(layout.train_split, "prepare"), params)
    with atomic_path(layout.model) as tmp:
        joblib.dump(forget_object_ids(trained.model), tmp)
    write_json(trained.stats, layout.train_stats)
    return trained.stats


def run_evaluate(params: Params, layout: Layout) -> dict:
    from textclf.evaluate import evaluate
    from textclf.figures import save_figures

    result = evaluate(
        load_model(layout.model), _read_parquet(layout.test_split, "prepare"), params.evaluate
    )
    write_json(result.metrics, layout.metrics)
    write_csv(result.predictions, layout.predictions)
    for name, curve in result.curves.items():
        write_csv(curve, layout.plots / f"{name}.csv")
    write_csv(result.worst_errors, layout.worst_errors)
    save_figures(result.predictions, result.curves, layout.figures)
    return result.metrics


def run_track(params: Params, layout: Layout) -> dict:
    if not params.mlflow.enabled:
        record = {"tracking": "disabled"}
    else:
        from textclf.tracking import RunInputs, log_run

        test = _read_parquet(layout.test_split, "prepare")
        inputs = RunInputs(
            params=params,
            model=load_model(layout.model),
            metrics=read_json(layout.metrics),
            train_stats=read_json(layout.train_stats),
            example_texts=test["text"].head(3).tolist(),
            data_hashes={
                "train": file_digest(layout.train_split),
                "test": file_digest(layout.test_split),
            },
            artifacts={
                "plots": layout.plots,
                "figures": layout.figures,
                "reports": layout.validation_report,
                "errors": layout.worst_errors,
                "predictions": layout.predictions,
            },
        )
        record = log_run(inputs, layout.root)
    write_json(record, layout.run_record)
    return record


def run_register(params: Params, layout: Layout, name: str | None = None) -> dict:
    from textclf.registry import register
    from textclf.tracking import load_run_record

    return register(load_run_record(layout.run_record), name or params.registry.model_name)


def run_promote(params: Params, layout: Layout, name: str | None = None) -> dict:
    from textclf.registry import promote
    from textclf.tracking import reachable_tracking_uri

    decision = promote(
        name or params.registry.model_name,
        _read_parquet(layout.test_split, "prepare"),
        params.registry.metric,
        params.registry.min_improvement,
        reachable_tracking_uri(layout.root, fallback_to_local=False),
    )
    return decision.as_dict()


def load_model(path: Path):
    if not path.is_file():
        raise DataError(path, "no trained model", "run `dvc repro train`, or name a model.joblib")
    return joblib.load(path)


def _read_parquet(path: Path, producer: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(path, "input is missing", f"run the {producer} stage first (dvc repro)")
    return pd.read_parquet(path)
