"""Command line: one command per pipeline stage, plus registry, scoring and operations commands.

Each command reads the params file once (`--params`), then calls plain functions. Errors come out
as one line on stderr: exit code 2 for bad input or setup, 3 for a service that did not answer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from textclf.core.errors import ParamsError, SetupError, TextclfError
from textclf.core.health import port_in_use
from textclf.core.layout import Layout
from textclf.core.params import DEFAULT_PARAMS, Params, check_choice

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

ParamsOption = typer.Option(DEFAULT_PARAMS, "--params", help="params file to read")
RootOption = typer.Option(Path("."), "--root", help="repository root the stage paths are under")
ModelOption = typer.Option(
    "champion",
    "--model",
    help="'champion' (registry.model_name@champion), a models:/ or runs:/ URI, "
    "or a path to a model.skops",
)
NameOption = typer.Option(None, "--name", help="registered model [default: registry.model_name]")


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress, not only problems"),
) -> None:
    from textclf.core import environment
    from textclf.core.logs import setup_logging

    setup_logging(verbose)
    environment.apply_to_process()


def _guard(action: Callable[[], Any], params_path: Path | None = None) -> Any:
    """Run `action`; a project error becomes one line on stderr and its exit code."""
    try:
        return action()
    except ParamsError as error:
        typer.echo(f"error: {error.in_file(params_path or DEFAULT_PARAMS)}", err=True)
        raise typer.Exit(code=error.exit_code) from None
    except TextclfError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=error.exit_code) from None


def _params(path: Path) -> Params:
    from textclf.ml.params import load_params  # scikit-learn: not for `textclf --help`

    return _guard(lambda: load_params(path), path)


def _echo(summary: Any) -> None:
    typer.echo(json.dumps(summary, indent=2, default=str))


def _stage_command(name: str, summary: str) -> None:
    def command(params: Path = ParamsOption, root: Path = RootOption) -> None:
        from textclf.pipeline.stages import run_stage

        values = _params(params)
        _echo(_guard(lambda: run_stage(name, values, Layout(root)), params))

    command.__doc__ = summary
    app.command(name)(command)


def _register_stage_commands() -> None:
    from textclf.pipeline.stages import STAGES

    for name, summary in STAGES.items():
        _stage_command(name, summary)


_register_stage_commands()


@app.command()
def check(params: Path = ParamsOption) -> None:
    """Check the params file and that the dataset's sources exist (`make repro` runs it first)."""
    from textclf.pipeline.ingest import check_sources

    settings = _params(params)
    sources = _guard(lambda: check_sources(settings.dataset))
    typer.echo(f"{params}: ok; dataset sources: {', '.join(sources)}")


@app.command()
def outcome(root: Path = RootOption) -> None:
    """What the last `dvc repro` produced: test accuracy, where the reports, model and run are."""
    from textclf.pipeline.outcome import outcome as lines

    typer.echo("\n".join(_guard(lambda: lines(Layout(root)))))


@app.command()
def register(
    params: Path = ParamsOption,
    root: Path = RootOption,
    name: str = NameOption,
    allow_uncommitted: bool = typer.Option(
        False,
        "--allow-uncommitted",
        help="register although no commit describes the model (recorded; never promoted)",
    ),
) -> None:
    """Register the last tracked run's model and give it the `challenger` alias."""
    from textclf.registry.promotion import register_tracked

    values = _params(params)
    _echo(_guard(lambda: register_tracked(values, Layout(root), name, allow_uncommitted), params))


@app.command()
def promote(params: Path = ParamsOption, root: Path = RootOption, name: str = NameOption) -> None:
    """Make the challenger champion only if it wins a paired comparison on the test split:
    significant at registry.confidence, lower end at least registry.min_improvement."""
    from textclf.registry.promotion import promote_challenger

    values = _params(params)
    _echo(_guard(lambda: promote_challenger(values, Layout(root), name), params))


@app.command()
def report(
    base: str = typer.Option(..., "--base", help="git revision to compare with, e.g. origin/main"),
    output: Path = typer.Option(Path("pr-report"), "--output", help="folder for report.md"),
    root: Path = RootOption,
) -> None:
    """Markdown metric report of the workspace against --base: deltas, significance, params."""
    from textclf.review.report import write_report

    typer.echo(_guard(lambda: write_report(base, root, output)).read_text())


@app.command("convert-model")
def convert_model(
    source: str = typer.Argument(
        ..., help="a pickled model file (model.joblib) or a registry version models:/<name>/<n>"
    ),
    root: Path = RootOption,
) -> None:
    """Convert a pickled model that you trust (textclf 0.2 and earlier) to the skops format, once.
    Reading a pickle runs the code it carries: convert only models whose origin you know. A file
    gets a model.skops beside it; a registry version gets a new version that takes its aliases."""
    from textclf.registry.convert import convert_model as convert

    _echo(_guard(lambda: convert(source, root)))


def _port_taken(host: str, port: int) -> None:
    raise SetupError(
        f"{host}:{port}",
        "the port is taken by another program",
        "stop that program, or pick another port: textclf serve --port (serve.port)",
    )


def _model(choice: str, params: Params, root: Path) -> Any:
    from textclf.registry.models import load_model
    from textclf.registry.versions import CHAMPION, alias_uri

    source = alias_uri(params.registry.model_name, CHAMPION) if choice == "champion" else choice
    return _guard(lambda: load_model(source, root))


@app.command()
def predict(
    texts: list[str] = typer.Argument(
        None, help="texts to classify; read lines from stdin if none"
    ),
    model: str = typer.Option(
        None, "--model", help="a model.skops or a models:/ URI [default: the workspace model]"
    ),
    params: Path = ParamsOption,
    root: Path = RootOption,
) -> None:
    """Classify texts: one JSON line per text (label, confidence, probabilities); the label is
    `uncertain` under predict.min_confidence."""
    from textclf.registry.models import load_model

    values = _params(params)
    texts = texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    loaded = _guard(lambda: load_model(model or Layout(root).model, root))
    scores = _guard(
        lambda: loaded.score(
            texts,
            values.predict.min_confidence,
            values.batch.workers,
            values.batch.chunk_rows,
        ),
        params,
    )
    for answer in scores.records():
        typer.echo(json.dumps(answer))


@app.command("batch-predict")
def batch_predict(
    input_location: str = typer.Option(
        None, "--input", help="folder or file of inputs, local or s3:// [default: batch.input]"
    ),
    output_location: str = typer.Option(
        None,
        "--output",
        help="folder for <input stem>.parquet and the manifest [default: batch.output]",
    ),
    model: str = ModelOption,
    engine: str = typer.Option(
        None, "--engine", help="local | spark | emr-serverless [default: batch.engine]"
    ),
    master: str = typer.Option(
        None, "--master", help="engine spark: e.g. local[2] [default: batch.spark.master]"
    ),
    params: Path = ParamsOption,
    root: Path = RootOption,
) -> None:
    """Score new input files (the batch-predict flow's work, without Prefect), on any engine."""
    import dataclasses

    from textclf.batch.engines import score_batch
    from textclf.batch.job import BatchJob

    values = _params(params)
    settings = values.batch
    if engine or master:
        spark = dataclasses.replace(settings.spark, master=master or settings.spark.master)
        settings = dataclasses.replace(settings, engine=engine or settings.engine, spark=spark)
        _guard(lambda: check_choice("batch.engine", settings.engine), params)
    loaded = _model(model, values, root)
    result = _guard(
        lambda: score_batch(
            BatchJob(
                loaded,
                input_location or settings.input,
                output_location or settings.output,
                settings,
                values.predict,
            )
        )
    )
    _echo(result.as_dict())
    if result.failed:
        raise typer.Exit(code=2)


@app.command("monitor-batch")
def monitor_batch(
    input_file: str = typer.Argument(..., help="the batch input (texts, and labels if any)"),
    scored_file: str = typer.Argument(..., help="its scored Parquet file"),
    model: str = ModelOption,
    params: Path = ParamsOption,
    root: Path = RootOption,
) -> None:
    """Evidently report of one scored batch against the training data; prints the verdict."""
    from textclf.monitor.drift import monitor_batch as run

    values = _params(params)
    loaded = _model(model, values, root)
    reference = Layout(root).test_split
    verdict = _guard(lambda: run(loaded, input_file, scored_file, values, reference))
    _echo(verdict.as_dict())


@app.command("sweep-best")
def sweep_best(
    metric: str = typer.Option(
        None,
        "--metric",
        help="<metrics file>:<key> [default: reports/train.json:validation.accuracy]",
    ),
    lower_is_better: bool = typer.Option(False, "--lower-is-better", help="e.g. for a log-loss"),
    root: Path = RootOption,
) -> None:
    """Rank the DVC experiments (a `dvc exp run --queue` sweep) by a validation metric."""
    from textclf.review.sweeps import DEFAULT_METRIC, list_experiments, report

    baseline, experiments = _guard(lambda: list_experiments(root))
    typer.echo(
        _guard(lambda: report(baseline, experiments, metric or DEFAULT_METRIC, lower_is_better))
    )


@app.command()
def serve(
    model: str = typer.Option(
        None,
        "--model",
        help="'champion', a models:/ or runs:/ URI, or a model.skops [default: serve.model]",
    ),
    host: str = typer.Option(None, "--host", help="[default: serve.host]"),
    port: int = typer.Option(None, "--port", help="[default: serve.port]"),
    workers: int = typer.Option(None, "--workers", help="[default: serve.workers]"),
    params: Path = ParamsOption,
    root: Path = RootOption,
) -> None:
    """Run the online prediction service (FastAPI on uvicorn): POST /predict, a page at /."""
    import os
    import shutil
    import tempfile

    import uvicorn

    from textclf.serve import app as service
    from textclf.serve.telemetry import MULTIPROCESS_DIR

    settings = _params(params).serve
    host, port = host or settings.host, port or settings.port
    if port_in_use(host, port):
        _guard(lambda: _port_taken(host, port))
    config = _guard(lambda: service.ServiceConfig.from_params(params, root, model), params)
    if not config.follows_registry:
        # A bad file is one error here, before the port opens; a registry version that cannot
        # be loaded leaves the service unready (503) while it waits for a good one.
        _model(str(root / config.source), _params(params), root)
    workers = workers or settings.workers
    os.environ[service.PARAMS_ENV] = str(params.resolve())
    os.environ[service.ROOT_ENV] = str(root.resolve())
    os.environ[service.MODEL_ENV] = config.source
    # Every worker writes its metrics here and /metrics adds them up; a fresh folder per run,
    # so counts never carry over from an earlier one.
    metrics_dir = Path(tempfile.mkdtemp(prefix="textclf-metrics-")) if workers > 1 else None
    if metrics_dir is not None:
        os.environ[MULTIPROCESS_DIR] = str(metrics_dir)
    try:
        uvicorn.run(
            "textclf.serve.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def retrain(
    root: Path = typer.Option(
        Path("."), "--root", help="the checkout (only read; its origin is the remote pushed to)"
    ),
    reason: str = typer.Option("scheduled", "--reason", help="scheduled, drift or manual"),
) -> None:
    """Fold new labelled data in, retrain at the newest base branch in a tree of its own, commit
    and push, register, promote, open a pull request (the retrain flow's work, without Prefect)."""
    from textclf.retrain.loop import run_retrain

    def say(line: str) -> None:
        typer.echo(line, err=True)  # stderr: stdout is the summary (JSON)

    _echo(_guard(lambda: run_retrain(root, reason, on_step=say)))


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
    serve: bool = typer.Option(
        False, "--serve", help="also the online service, serving the stack's champion"
    ),
    serve_port: int = typer.Option(8000, "--serve-port"),
    root: Path = RootOption,
) -> None:
    """Start the stack on loopback, create the buckets, write .stack/env and .dvc/config.local."""
    from textclf.infra import stack

    names = ("s3", "mlflow", *(["prefect"] * prefect), *(["serve"] * serve))
    config = stack.StackConfig(
        state_dir, "127.0.0.1", s3_port, mlflow_port, prefect_port, serve_port, services=names
    )
    _guard(lambda: stack.up(config, root))
    typer.echo(f"stack is up; load its settings with: set -a; . {config.env_file}; set +a")


@stack_app.command("down")
def stack_down(state_dir: Path = StateOption, root: Path = RootOption) -> None:
    """Stop the stack's servers and remove the settings it wrote."""
    from textclf.infra import stack

    stopped = stack.down(stack.StackConfig(state_dir), root)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "the stack was not running")


@stack_app.command("status")
def stack_status(state_dir: Path = StateOption) -> None:
    """Which of the stack's servers are running."""
    from textclf.infra import stack

    _echo(stack.status(stack.StackConfig(state_dir)))


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
    from textclf.infra import aws

    values = _guard(lambda: aws.read_outputs(outputs, terraform_dir))
    env = _guard(lambda: aws.write_settings(values, root, outputs or terraform_dir, tunnel))
    typer.echo(f"wrote {root / '.stack/env'} ({', '.join(env)})")
    typer.echo(f"DVC remote 'storage' (.dvc/config.local): {values['dvc_remote_url']}")
    typer.echo("load them with: set -a; . .stack/env; set +a")
    if tunnel:
        typer.echo("open the tunnels first:\n  " + "\n  ".join(aws.tunnel_commands(values)))
    variables = aws.github_variables(values)
    if variables:
        typer.echo("GitHub repository variables for the PR-report workflow:")
        for name, value in variables.items():
            typer.echo(f"  gh variable set {name} --body {value}")


# Commands that run another command (after --) with a secret in its environment.
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@infra_app.command("with-database-url", context_settings=PASS_THROUGH)
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
    from textclf.infra import aws

    url = aws.database_url(secret_arn, endpoint, database, scheme)
    if create_database and aws.ensure_database(url):
        typer.echo(f"created database {database}", err=True)
    _exec_with(ctx, {env: url})


@infra_app.command("with-secret", context_settings=PASS_THROUGH)
def infra_with_secret(
    ctx: typer.Context,
    secret_arn: str = typer.Option(..., help="Secrets Manager secret holding one string"),
    env: str = typer.Option(..., help="variable that receives it"),
    optional: bool = typer.Option(False, help="run without it while the secret has no value"),
) -> None:
    """Run a command (after --) with a secret in its environment, not its arguments."""
    from textclf.infra import aws

    value = _guard(lambda: aws.secret_value(secret_arn, optional))
    if value is None:
        typer.echo(f"{secret_arn} has no value yet: {env} is not set", err=True)
    _exec_with(ctx, {env: value} if value is not None else {})


def _exec_with(ctx: typer.Context, extra_env: dict[str, str]) -> None:
    import os

    if not ctx.args:
        raise typer.BadParameter("give the command to run after --")
    os.execvpe(ctx.args[0], ctx.args, {**os.environ, **extra_env})


if __name__ == "__main__":
    app()
