"""Where each stage reads and writes, relative to the repository root (mirrors dvc.yaml).

Every property is a path that dvc.yaml declares, except those in LOCAL_STATE: run-specific
files (git-ignored) that must never reach a tracked file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path = Path(".")

    LOCAL_STATE = ("run_record", "timings")

    def __truediv__(self, relative: str) -> Path:
        return self.root / relative

    @property
    def labelled(self) -> Path:
        return self / "data/interim/labelled.parquet"

    @property
    def unlabelled(self) -> Path:
        return self / "data/interim/unlabelled.parquet"

    @property
    def validation_report(self) -> Path:
        return self / "reports/validation.json"

    @property
    def train_split(self) -> Path:
        return self / "data/prepared/train.parquet"

    @property
    def validation_split(self) -> Path:
        return self / "data/prepared/validation.parquet"

    @property
    def test_split(self) -> Path:
        return self / "data/prepared/test.parquet"

    @property
    def prepare_summary(self) -> Path:
        return self / "reports/prepare.json"

    @property
    def model(self) -> Path:
        return self / "models/model.skops"

    @property
    def train_stats(self) -> Path:
        return self / "reports/train.json"

    @property
    def metrics(self) -> Path:
        return self / "reports/metrics.json"

    @property
    def predictions(self) -> Path:
        return self / "reports/predictions.csv"

    @property
    def plots(self) -> Path:
        return self / "reports/plots"

    @property
    def figures(self) -> Path:
        return self / "reports/figures"

    @property
    def worst_errors(self) -> Path:
        return self / "reports/worst_errors.csv"

    @property
    def behaviour_report(self) -> Path:
        return self / "reports/behaviour.json"

    @property
    def model_card(self) -> Path:
        return self / "reports/model_card.md"

    @property
    def run_record(self) -> Path:
        """The MLflow run that tracks the current outputs (run ids are run-specific)."""
        return self / "reports/mlflow_run.json"

    @property
    def timings(self) -> Path:
        """Seconds each stage took when it last ran; logged to MLflow by the track stage."""
        return self / "reports/timings.json"
