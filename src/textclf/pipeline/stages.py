"""The pipeline's stages, by name: dvc.yaml runs `textclf <stage>`, which runs
`textclf.pipeline.<stage>.run(params, layout)`. Each stage computes everything in memory before
it writes, and writes atomically, so a failure leaves no partial output.

The CLI reads this table for its help: stage modules are imported only when a stage runs, so
`textclf --help` does not import pandas or scikit-learn.
"""

from __future__ import annotations

import importlib
import logging
import time

from textclf.core.files import read_json, write_json
from textclf.core.layout import Layout
from textclf.core.params import Params

log = logging.getLogger(__name__)

# name -> what it does; `textclf <name>` runs it, dvc.yaml names the same stages in this order.
STAGES: dict[str, str] = {
    "ingest": "Read the raw dataset named in the params into data/interim/.",
    "validate": "Check schema and content; write reports/validation.json or name the bad rows.",
    "prepare": "Normalise text; split into data/prepared/{train,validation,test}.parquet.",
    "train": "Fit the params-defined pipeline; write models/model.skops.",
    "evaluate": "Score the test split; write metrics, plots, figures and worst errors.",
    "behaviour": "Run the behaviour suite (behaviour.suite) on the model; fail if a gate fails.",
    "card": "Write the model card, reports/model_card.md.",
    "track": "Log the run to MLflow (MLFLOW_TRACKING_URI, else ./mlflow.db).",
}


def stage_module(name: str) -> str:
    """The module whose `run(params, layout)` is the stage (dvc.yaml's deps cover its imports)."""
    return f"textclf.pipeline.{name}"


def run_stage(name: str, params: Params, layout: Layout) -> dict:
    """Run one stage and note how long it took (for MLflow, never in a tracked file)."""
    run = importlib.import_module(stage_module(name)).run
    started = time.perf_counter()
    summary = run(params, layout)
    timings = read_json(layout.timings) if layout.timings.exists() else {}
    timings[name] = round(time.perf_counter() - started, 2)
    write_json(timings, layout.timings)
    log.info("%s finished in %.1f s", name, timings[name])
    return summary
