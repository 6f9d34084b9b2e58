"""Command line: one command per pipeline stage, plus registry and scoring helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from textclf.errors import DataError
from textclf.layout import Layout
from textclf.params import DEFAULT_PARAMS, load_params

if TYPE_CHECKING:
    from textclf.batch import ScoringModel

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

ParamsOption = typer.Option(DEFAULT_PARAMS, "--params", help="params.yaml to read")
RootOption = typer.Option(Path("."), "--root", help="repository root the stage paths are under")


def _guard(action: Callable[[], Any]) -> Any:
    """Run `action`; bad input becomes one line on stderr and exit code 2, not a traceback."""
    try:
        return action()
    except DataError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None


def _run(stage: Callable[..., Any], params_path: Path, root: Path, **kwargs: Any) -> None:
    summary = _guard(lambda: stage(load_params(params_path), Layout(root), **kwargs))
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


NameOption = typer.Option(None, "--name", help="registered model [default: registry.model_name]")


@app.command()
def register(params: Path = ParamsOption, root: Path = RootOption, name: str = NameOption) -> None:
    """Register the last tracked run's model and give it the `challenger` alias."""
    from textclf.stages import run_register

    _run(run_register, params, root, name=name)


@app.command()
def promote(params: Path = ParamsOption, root: Path = RootOption, name: str = NameOption) -> None:
    """Make the challenger champion if it wins on the test split by registry.min_improvement."""
    from textclf.stages import run_promote

    _run(run_promote, params, root, name=name)


@app.command()
def report(
    base: str = typer.Option(..., "--base", help="git revision to compare with, e.g. origin/main"),
    output: Path = typer.Option(Path("pr-report"), "--output", help="folder for report.md"),
    root: Path = RootOption,
) -> None:
    """Markdown metric report of the workspace against --base: deltas, significance, params."""
    from textclf.report import write_report

    typer.echo(_guard(lambda: write_report(base, root, output)).read_text())


ModelOption = typer.Option(
    "champion",
    "--model",
    help="'champion' (registry.model_name@champion in MLflow) or a path to a model.joblib",
)


def _scoring_model(model: str, params_path: Path) -> ScoringModel:
    from textclf import batch

    if model == "champion":
        return batch.load_champion(load_params(params_path).registry.model_name)
    from textclf.stages import load_model

    return batch.ScoringModel(load_model(Path(model)), Path(model).stem, "local")


@app.command("batch-predict")
def batch_predict(
    input_location: str = typer.Option(None, "--input", help="[default: batch.input]"),
    output_location: str = typer.Option(None, "--output", help="[default: batch.output]"),
    model: str = ModelOption,
    params: Path = ParamsOption,
) -> None:
    """Score new input files (the batch-predict flow's work, without Prefect, for debugging)."""
    from textclf import batch

    settings = load_params(params).batch
    result = _guard(
        lambda: batch.run_batch(
            _scoring_model(model, params),
            input_location or settings.input,
            output_location or settings.output,
            settings,
        )
    )
    typer.echo(json.dumps(result.as_dict(), indent=2))
    if result.failed:
        raise typer.Exit(code=2)


@app.command("monitor-batch")
def monitor_batch(
    input_file: str = typer.Argument(..., help="the batch input (texts, and labels if any)"),
    scored_file: str = typer.Argument(..., help="its scored Parquet file"),
    model: str = ModelOption,
    params: Path = ParamsOption,
) -> None:
    """Evidently report of one scored batch against the training data; prints the verdict."""
    from textclf.monitor import monitor_batch as run

    verdict = _guard(
        lambda: run(_scoring_model(model, params), input_file, scored_file, load_params(params))
    )
    typer.echo(json.dumps(verdict.as_dict(), indent=2))


@app.command()
def retrain(root: Path = RootOption) -> None:
    """Pull data, reproduce, register, promote, push (the retrain flow's work, without Prefect)."""
    from textclf.retrain import run_retrain

    typer.echo(json.dumps(_guard(lambda: run_retrain(root)), indent=2))


stack_app = typer.Typer(help="The local stack: S3 (moto), MLflow server, Prefect server.")
app.add_typer(stack_app, name="stack")
StateOption = typer.Option(Path(".stack"), "--state-dir", help="pids, logs and settings")


@stack_app.command("up")
def stack_up(
    state_dir: Path = StateOption,
    s3_port: int = typer.Option(9000, "--s3-port"),
    mlflow_port: int = typer.Option(5000, "--mlflow-port"),
    prefect_port: int = typer.Option(4200, "--prefect-port"),
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", help="start the Prefect server"),
    root: Path = RootOption,
) -> None:
    """Start the stack on loopback, create the buckets, write .stack/env and .dvc/config.local."""
    from textclf import stack

    names = ("s3", "mlflow", "prefect") if prefect else ("s3", "mlflow")
    config = stack.StackConfig(
        state_dir, "127.0.0.1", s3_port, mlflow_port, prefect_port, services=names
    )
    _guard(lambda: stack.up(config, root))
    typer.echo(f"stack is up; load its settings with: set -a; . {config.env_file}; set +a")


@stack_app.command("down")
def stack_down(state_dir: Path = StateOption, root: Path = RootOption) -> None:
    """Stop the stack's servers and remove the settings it wrote."""
    from textclf import stack

    stopped = stack.down(stack.StackConfig(state_dir), root)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "the stack was not running")


@stack_app.command("status")
def stack_status(state_dir: Path = StateOption) -> None:
    """Which of the stack's servers are running."""
    from textclf import stack

    typer.echo(json.dumps(stack.status(stack.StackConfig(state_dir)), indent=2))


infra_app = typer.Typer(help="The AWS environment that infra/terraform creates.")
app.add_typer(infra_app, name="infra")


@infra_app.command("settings")
def infra_settings(
    outputs: Path = typer.Option(
        None, "--outputs", help="JSON of `terraform output -json` (or flat); default: ask terraform"
    ),
    terraform_dir: Path = typer.Option(Path("infra/terraform"), "--terraform-dir"),
    tunnel: bool = typer.Option(
        False, "--tunnel", help="reach MLflow and Prefect through SSM port forwarding on localhost"
    ),
    root: Path = RootOption,
) -> None:
    """Write the environment's settings into .dvc/config.local and .stack/env."""
    from textclf import infra

    values = _guard(lambda: infra.read_outputs(outputs, terraform_dir))
    env = _guard(lambda: infra.write_settings(values, root, outputs or terraform_dir, tunnel))
    typer.echo(f"wrote {root / '.stack/env'} ({', '.join(env)})")
    typer.echo(f"DVC remote 'storage' (.dvc/config.local): {values['dvc_remote_url']}")
    typer.echo("load them with: set -a; . .stack/env; set +a")
    if tunnel:
        typer.echo("open the tunnels first:\n  " + "\n  ".join(infra.tunnel_commands(values)))
    variables = infra.github_variables(values)
    if variables:
        typer.echo("GitHub repository variables for the PR-report workflow:")
        for name, value in variables.items():
            typer.echo(f"  gh variable set {name} --body {value}")


@infra_app.command(
    "with-database-url",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def infra_with_database_url(
    ctx: typer.Context,
    secret_arn: str = typer.Option(..., help="Secrets Manager secret RDS keeps the credentials in"),
    endpoint: str = typer.Option(..., help="database host:port"),
    database: str = typer.Option(..., help="database name"),
    env: str = typer.Option("MLFLOW_BACKEND_STORE_URI", help="variable that receives the URL"),
    scheme: str = typer.Option("postgresql+psycopg2", help="SQLAlchemy dialect and driver"),
    create_database: bool = typer.Option(False, help="create the database if it is missing"),
) -> None:
    """Run a command (after --) with the database URL in its environment, not its arguments."""
    import os

    from textclf import infra

    if not ctx.args:
        raise typer.BadParameter("give the command to run after --")
    url = infra.database_url(secret_arn, endpoint, database, scheme)
    if create_database and infra.ensure_database(url):
        typer.echo(f"created database {database}", err=True)
    os.execvpe(ctx.args[0], ctx.args, {**os.environ, env: url})


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
    model = _guard(lambda: load_model(Layout(root).model))
    for proba in model.predict_proba(texts):
        best = int(proba.argmax())
        answer = {"label": str(model.classes_[best]), "confidence": float(proba[best])}
        typer.echo(json.dumps(answer))


if __name__ == "__main__":
    app()
