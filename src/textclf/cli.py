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


STAGES = {
    "ingest": "Read the raw dataset named in params.yaml into data/interim/.",
    "validate": "Check schema and content; write reports/validation.json or name the bad rows.",
    "prepare": "Normalise text and split into data/prepared/{train,test}.parquet.",
    "train": "Fit the params-defined pipeline; write models/model.joblib.",
    "evaluate": "Score the test split; write metrics, plots, figures and worst errors.",
    "track": "Log the run to MLflow (MLFLOW_TRACKING_URI, else ./mlflow.db).",
}


def _stage_command(name: str, summary: str) -> None:
    def command(params: Path = ParamsOption, root: Path = RootOption) -> None:
        from textclf import stages

        _run(getattr(stages, f"run_{name}"), params, root)

    command.__doc__ = summary
    app.command(name)(command)


for _name, _summary in STAGES.items():
    _stage_command(_name, _summary)


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
