"""Logging: the library logs through `logging.getLogger(__name__)` under the `textclf` logger;
entry points call `setup_logging` once. Stages are quiet by default (warnings and errors), so
`dvc repro` output stays readable; `--verbose` shows progress. The Prefect flows forward the same
records to the flow run's log (textclf.flows)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ROOT = "textclf"


def setup_logging(verbose: bool = False) -> None:
    logger = logging.getLogger(ROOT)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    if not any(getattr(handler, "_textclf", False) for handler in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        handler._textclf = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
