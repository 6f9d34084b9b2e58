"""Command line: one command per pipeline stage, plus registry and scoring helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from textclf.errors import DataError
from textclf.layout import Layout
from textclf.params import DEFAULT_PARAMS, load_params

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

ParamsOption = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml to read")
RootOption = typer.Option(Path("."), "--root", help="repository root the stage paths are under")


def _run(stage: Callable[..., Any], params_path: Path, root: Path, **kwargs: Any) -> None:
    try:
        summary = stage(load_params(params_path), Layout(root), **kwargs)
    except DataError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def ingest(params: Path = ParamsOption, root: Path = RootOption) -> None:
    """Read the raw dataset named in params.yaml into data/interim/."""
    from textclf.stages import run_ingest

    _run(run_ingest, params, root)


@app.command()
def validate(params: Path = ParamsOption, root: Path = RootOption) -> None:
    """Check schema and content; write reports/validation.json or fail naming the bad rows."""
    from textclf.stages import run_validate

    _run(run_validate, params, root)


@app.command()
def prepare(params: Path = ParamsOption, root: Path = RootOption) -> None:
    """Normalise text and split into data/prepared/{train,test}.parquet."""
    from textclf.stages import run_prepare

    _run(run_prepare, params, root)


@app.command()
def train(params: Path = ParamsOption, root: Path = RootOption) -> None:
    """Fit the params-defined pipeline; write models/model.joblib."""
    from textclf.stages import run_train

    _run(run_train, params, root)


@app.command()
def evaluate(params: Path = ParamsOption, root: Path = RootOption) -> None:
    """Score the test split; write metrics, plots, figures and worst errors under reports/."""
    from textclf.stages import run_evaluate

    _run(run_evaluate, params, root)


@app.command()
def track(params: Path = ParamsOption, root: Path = RootOption) -> None:
    """Log the run to MLflow (MLFLOW_TRACKING_URI, else ./mlflow.db)."""
    from textclf.stages import run_track

    _run(run_track, params, root)


@app.command()
def register(
    params: Path = ParamsOption,
    root: Path = RootOption,
    name: str = typer.Option(None, help="registered model name [default: mlflow.registered_model]"),
) -> None:
    """Register the last tracked run's model in the MLflow model registry."""
    from textclf.stages import run_register

    _run(run_register, params, root, name=name)


@app.command()
def predict(
    texts: list[str] = typer.Argument(
        None, help="texts to classify; read lines from stdin if none"
    ),
    root: Path = RootOption,
) -> None:
    """Classify texts with the workspace model: one JSON line per text."""
    from textclf.stages import load_model

    texts = texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    try:
        model = load_model(Layout(root))
    except DataError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    for proba in model.predict_proba(texts):
        best = int(proba.argmax())
        answer = {"label": str(model.classes_[best]), "confidence": float(proba[best])}
        typer.echo(json.dumps(answer))


if __name__ == "__main__":
    app()
