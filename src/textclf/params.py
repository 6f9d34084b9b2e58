"""`params.yaml`, read into typed sections; a wrong key or value names the field and the fix."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textclf.errors import DataError
from textclf.text import NormalizeOptions

DEFAULT_PARAMS = Path("params.yaml")


@dataclass(frozen=True)
class DatasetParams:
    name: str = "imdb-sample"
    source: str = "data/raw/imdb_sample.tar.gz"
    format: str = "auto"  # auto | aclimdb | csv | jsonl | parquet
    sha256: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    id_column: str | None = None
    split_column: str | None = None
    unlabelled_source: str | None = None
    label_field: str = "sentiment"  # aclimdb only: sentiment | rating
    labels: list[str] | None = None
    download_dir: str = "data/external"

    def __post_init__(self) -> None:
        _choice("dataset.format", self.format, {"auto", "aclimdb", "csv", "jsonl", "parquet"})
        _choice("dataset.label_field", self.label_field, {"sentiment", "rating"})


@dataclass(frozen=True)
class ValidateParams:
    min_text_chars: int = 1
    max_duplicate_fraction: float = 0.02
    max_leakage_fraction: float = 0.01
    max_bad_char_fraction: float = 0.001
    examples: int = 5


@dataclass(frozen=True)
class PrepareParams:
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    drop_duplicates: bool = True
    drop_train_test_overlap: bool = True
    test_size: float = 0.2
    seed: int = 42

    def __post_init__(self) -> None:
        if not 0 < self.test_size < 1:
            raise _field_error("prepare.test_size", self.test_size, "a fraction between 0 and 1")


@dataclass(frozen=True)
class TrainParams:
    seed: int = 42
    vectorizer: dict[str, Any] = field(default_factory=lambda: {"kind": "tfidf"})
    nb_weighting: bool = True
    nb_alpha: float = 1.0
    classifier: dict[str, Any] = field(default_factory=lambda: {"kind": "logreg"})


@dataclass(frozen=True)
class EvaluateParams:
    worst_errors: int = 50
    calibration_bins: int = 10


@dataclass(frozen=True)
class MlflowParams:
    enabled: bool = True
    experiment: str = "textclf"
    fallback_to_local: bool = False


@dataclass(frozen=True)
class RegistryParams:
    model_name: str = "textclf"
    metric: str = "accuracy"
    min_improvement: float = 0.002


@dataclass(frozen=True)
class BatchParams:
    input: str = "s3://textclf-batch/incoming"
    output: str = "s3://textclf-batch/scored"
    text_column: str = "text"
    id_column: str = "id"
    chunk_rows: int = 5000


@dataclass(frozen=True)
class MonitorParams:
    sample_rows: int = 5000
    drift_share: float = 0.5
    seed: int = 42


@dataclass(frozen=True)
class Params:
    dataset: DatasetParams = field(default_factory=DatasetParams)
    validate: ValidateParams = field(default_factory=ValidateParams)
    prepare: PrepareParams = field(default_factory=PrepareParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    mlflow: MlflowParams = field(default_factory=MlflowParams)
    registry: RegistryParams = field(default_factory=RegistryParams)
    batch: BatchParams = field(default_factory=BatchParams)
    monitor: MonitorParams = field(default_factory=MonitorParams)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Where batch files live depends on the environment (local stack, dev, prod), not on the
# experiment: the settings `textclf stack up` and `textclf infra settings` write override these.
BATCH_LOCATION_ENV = {"input": "TEXTCLF_BATCH_INPUT", "output": "TEXTCLF_BATCH_OUTPUT"}


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "the params file does not exist", "run from the repository root")
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        params = _build(Params, raw, prefix="")
    except DataError as error:
        raise DataError(path, error.problem, error.fix, field=error.field) from None
    located = {
        key: os.environ[var] for key, var in BATCH_LOCATION_ENV.items() if os.environ.get(var)
    }
    return dataclasses.replace(params, batch=dataclasses.replace(params.batch, **located))


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise _field_error(prefix.rstrip("."), raw, "a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DataError(
            "params.yaml",
            f"unknown key '{prefix}{unknown[0]}'",
            f"use one of: {', '.join(sorted(known))}",
            field=f"{prefix}{unknown[0]}",
        )
    values = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(f"{prefix}{name}", value, hint)
    return cls(**values)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check a scalar against its annotation; YAML already gives ints, floats, bools and lists."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return None
        origin = typing.get_origin(option) or option
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin is list and isinstance(value, list):
            return [str(item) for item in value]
        if origin in (str, bool, dict) and isinstance(value, origin):
            return value
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise _field_error(name, value, expected)


def _choice(name: str, value: str, allowed: set[str]) -> None:
    if value not in allowed:
        raise _field_error(name, value, f"one of {', '.join(sorted(allowed))}")


def _field_error(name: str, value: Any, expected: str) -> DataError:
    return DataError("params.yaml", f"{name} is {value!r}", f"set it to {expected}", field=name)
