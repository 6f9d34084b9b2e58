"""Fixtures that build small, real inputs: aclImdb-layout archives and labelled tables."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from textclf.core import environment
from textclf.core.params import DatasetParams, NormalizeOptions
from textclf.ml.params import load_params

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"

# The suite starts its own servers: settings of a stack this shell may have loaded (README:
# `set -a; . .stack/env`) must not send the tests to it, nor skip them.
STACK_SETTINGS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_S3_ENDPOINT_URL",
    "PREFECT_API_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "TEXTCLF_BATCH_INPUT",
    "TEXTCLF_BATCH_OUTPUT",
    "TEXTCLF_BATCH_WORKERS",
    "TEXTCLF_LABELLED_INPUT",
)
for _name in STACK_SETTINGS:
    os.environ.pop(_name, None)
# No usage telemetry from the servers and tools the tests start (docs/telemetry.md), and the
# retry policy the entry points use.
environment.apply_to_process()

REPO_PARAMS = load_params(REPO_ROOT / "params.yaml")


@pytest.fixture(autouse=True)
def no_stack_settings_leak():
    """`mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI in os.environ, so a test that
    talks to a server would send every later test's subprocesses there."""
    yield
    for name in STACK_SETTINGS:
        os.environ.pop(name, None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def make(section: type, **overrides: Any) -> Any:
    """A params section as the repository's params.yaml sets it, with `overrides`."""
    if section is NormalizeOptions:
        base = REPO_PARAMS.prepare.normalize
    else:
        (base,) = (
            getattr(REPO_PARAMS, f.name)
            for f in dataclasses.fields(REPO_PARAMS)
            if f.type == section.__name__ or f.type is section
        )
    return dataclasses.replace(base, **overrides)


POSITIVE = [
    "A wonderful, moving film.<br /><br />The acting is superb and the story is great.",
    "Brilliant and funny, I loved every minute of it. Great cast!",
    "One of the best movies of the year, beautiful and touching.",
    "Excellent direction, a great script and lovely music.",
]
NEGATIVE = [
    "A dull, boring mess.<br />The plot is awful and the acting is terrible.",
    "Worst film I have seen, a waste of time and money.",
    "Terrible script, bad acting, and an ending that makes no sense.",
    "Boring and predictable; I walked out. Awful.",
]


def write_aclimdb_archive(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def aclimdb_files() -> dict[str, bytes]:
    files = {}
    for split in ("train", "test"):
        for i, text in enumerate(POSITIVE):
            files[f"{split}/pos/{i}_{8 + i % 3}.txt"] = f"{text} ({split} {i})".encode()
        for i, text in enumerate(NEGATIVE):
            files[f"{split}/neg/{i}_{1 + i % 3}.txt"] = f"{text} ({split} {i})".encode()
    files["train/unsup/0_0.txt"] = b"An unlabelled review."
    files["train/unsup/1_0.txt"] = b"Another unlabelled review."
    return files


@pytest.fixture
def aclimdb_archive(tmp_path: Path) -> Path:
    return write_aclimdb_archive(tmp_path / "aclImdb.tar.gz", aclimdb_files())


@pytest.fixture
def labelled_table() -> pd.DataFrame:
    """A valid ingested table: a train and a test split, two labels, no duplicates."""
    rows = []
    for split in ("train", "test"):
        for label, texts in (("pos", POSITIVE), ("neg", NEGATIVE)):
            for i, text in enumerate(texts):
                rows.append(
                    {
                        "id": f"{split}/{label}/{i}",
                        "text": f"{text} ({split} {i})",
                        "label": label,
                        "split": split,
                        "origin": f"data.csv:{len(rows) + 1}",
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def csv_params(tmp_path: Path):
    def write(frame: pd.DataFrame, **overrides: object) -> DatasetParams:
        path = tmp_path / "data.csv"
        frame.to_csv(path, index=False)
        return make(DatasetParams, source=str(path), download_dir=str(tmp_path / "dl"), **overrides)

    return write


# The slowest test files first (as `make test --durations` measured them), so that
# pytest-xdist's `--dist loadfile` starts them early on their own workers and the workers finish
# together; a file's own tests keep their order, on one worker.
SLOWEST_FIRST = (
    "test_retrain_faults.py",
    "test_flows.py",
    "test_retrain_loop.py",
    "test_pipeline.py",
    "test_emr.py",
    "test_registry.py",
    "test_serve.py",
    "test_stack.py",
    "test_sweep.py",
    "test_spark_job.py",
    "test_server_units.py",
    "test_report.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
