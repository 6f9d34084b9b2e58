"""The params file (`params.yaml`), read into typed sections.

The file is the one source of every value: the dataclasses below say only what each key must
be, so a key missing from the file is an error that names it, never a silent default that
differs from what the file says. A wrong key or value names the file actually read and the field.
The params file is read once, at an entry point (a stage, a CLI command, a flow), and the typed
sections are passed down.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from textclf.core.errors import DataError, ParamsError

DEFAULT_PARAMS = Path("params.yaml")
FORMATS = ("auto", "aclimdb", "csv", "jsonl", "parquet")
# Keys whose value must be one of a few words.
CHOICES = {
    "dataset.format": FORMATS,
    "dataset.label_field": ("sentiment", "rating"),
    "dataset.new_rows": ("train", "newest_to_test"),
    "retrain.promotion": ("rule", "merged"),
    "batch.engine": ("local", "spark", "emr-serverless"),
    "train.calibration": ("none", "sigmoid", "isotonic", "temperature"),
}


@dataclass(frozen=True)
class NormalizeOptions:
    """prepare.normalize: what text normalisation does (textclf.ml.text.normalize)."""

    strip_html: bool
    replace_urls: bool
    replace_mentions: bool
    lowercase: bool


@dataclass(frozen=True)
class DatasetParams:
    name: str
    source: str
    format: str  # auto | aclimdb | csv | jsonl | parquet
    sha256: str | None
    text_column: str
    label_column: str
    id_column: str | None
    split_column: str | None
    unlabelled_source: str | None
    split_from_path: bool
    label_field: str  # aclimdb only: sentiment | rating
    labels: list[str] | None
    download_dir: str
    deliveries: str
    new_rows: str
    new_rows_test_share: float


@dataclass(frozen=True)
class ValidateParams:
    min_text_chars: int
    max_duplicate_fraction: float
    max_leakage_fraction: float
    max_bad_char_fraction: float
    examples: int


@dataclass(frozen=True)
class PrepareParams:
    normalize: NormalizeOptions
    drop_duplicates: bool
    drop_train_test_overlap: bool
    test_size: float
    validation_size: float  # share of train held out for calibration (0: none)
    seed: int

    def __post_init__(self) -> None:
        fraction = self.test_size
        _require(0 < fraction < 1, "prepare.test_size", fraction, "a fraction between 0 and 1")
        held_out = self.validation_size
        _require(0 <= held_out < 1, "prepare.validation_size", held_out, "a fraction from 0 to 1")


@dataclass(frozen=True)
class WordVectorParams:
    """train.word_vectors: vectors learned from every text without its label
    (textclf.ml.word_vectors), appended to the n-gram features."""

    words: int  # the most frequent words get vectors
    window: int  # words at most this many tokens apart co-occur
    dims: int
    scale: float  # length of the appended document vector, against the n-gram features

    def __post_init__(self) -> None:
        for key in ("words", "window", "dims"):
            value = getattr(self, key)
            _require(value >= 1, f"train.word_vectors.{key}", value, "a number above 0")
        _require(self.scale > 0, "train.word_vectors.scale", self.scale, "a number above 0")


@dataclass(frozen=True)
class TrainParams:
    seed: int
    vectorizer: dict[str, Any]
    nb_weighting: bool
    nb_alpha: float
    nb_interpolation: float | None  # NBSVM's beta: weights pulled towards their mean magnitude
    classifier: dict[str, Any]
    calibration: str  # none | sigmoid | isotonic | temperature (fitted on the validation split)
    refit_on_all: bool  # the final fit on train + validation (the calibration map is kept)
    word_vectors: WordVectorParams | None

    def __post_init__(self) -> None:
        beta = self.nb_interpolation
        _require(beta is None or 0 < beta <= 1, "train.nb_interpolation", beta, "null or 0-1")


@dataclass(frozen=True)
class EvaluateParams:
    worst_errors: int
    calibration_bins: int
    bootstrap_resamples: int  # for the metrics' confidence intervals
    seed: int


@dataclass(frozen=True)
class FailureRates:
    mft: float
    inv: float
    dir: float

    def __post_init__(self) -> None:
        for kind, rate in dataclasses.asdict(self).items():
            _require(0 <= rate <= 1, f"behaviour.max_failure_rate.{kind}", rate, "a share 0-1")


@dataclass(frozen=True)
class BehaviourParams:
    suite: str | None  # null: no behaviour tests for this dataset
    cases_per_test: int
    tolerance: float
    min_shift: float
    max_failure_rate: FailureRates
    examples: int
    seed: int

    def __post_init__(self) -> None:
        cases = self.cases_per_test
        _require(cases >= 1, "behaviour.cases_per_test", cases, "a number above 0")


@dataclass(frozen=True)
class PredictParams:
    min_confidence: float  # below it the answer is `uncertain` (probabilities still given)

    def __post_init__(self) -> None:
        value = self.min_confidence
        _require(0 <= value <= 1, "predict.min_confidence", value, "a probability from 0 to 1")


@dataclass(frozen=True)
class ServeParams:
    model: str  # champion (registry.model_name@champion), a models:/ or runs:/ URI, or a file
    host: str
    port: int
    workers: int
    poll_seconds: float  # how often the registry is asked whether the alias moved
    max_text_chars: int
    max_texts: int
    max_body_bytes: int
    max_in_flight: int  # per worker; past it /predict answers 503 with Retry-After at once

    def __post_init__(self) -> None:
        for name in ("workers", "max_text_chars", "max_texts", "max_body_bytes", "max_in_flight"):
            value = getattr(self, name)
            _require(value >= 1, f"serve.{name}", value, "a number above 0")
        _require(self.poll_seconds > 0, "serve.poll_seconds", self.poll_seconds, "seconds above 0")


@dataclass(frozen=True)
class MlflowParams:
    enabled: bool
    experiment: str
    fallback_to_local: bool


@dataclass(frozen=True)
class RegistryParams:
    """The promotion rule (registry/promotion.py, ml/comparison.py)."""

    model_name: str
    metric: str
    min_improvement: float  # the interval's lower end must reach it (0: significance alone)
    confidence: float  # of the paired test and interval

    def __post_init__(self) -> None:
        _require(0.5 <= self.confidence < 1, "registry.confidence", self.confidence, "e.g. 0.95")


@dataclass(frozen=True)
class SparkParams:
    """batch.spark: the Spark job (engines spark and emr-serverless)."""

    master: str  # engine spark only; on EMR Serverless the cluster's
    partitions_per_core: int

    def __post_init__(self) -> None:
        _require(
            self.partitions_per_core >= 1,
            "batch.spark.partitions_per_core",
            self.partitions_per_core,
            "a number above 0",
        )


@dataclass(frozen=True)
class EmrParams:
    """batch.emr: how the flow runs the Spark job on EMR Serverless."""

    poll_seconds: float
    timeout_minutes: int

    def __post_init__(self) -> None:
        _require(self.poll_seconds > 0, "batch.emr.poll_seconds", self.poll_seconds, "above 0")
        _require(
            self.timeout_minutes >= 5,
            "batch.emr.timeout_minutes",
            self.timeout_minutes,
            "5 or more (EMR Serverless's minimum)",
        )


@dataclass(frozen=True)
class BatchParams:
    input: str
    output: str
    text_column: str
    id_column: str
    chunk_rows: int
    workers: int | None  # processes scoring chunks at once; None: every core
    engine: str  # local | spark | emr-serverless
    spark: SparkParams
    emr: EmrParams

    def __post_init__(self) -> None:
        _require(self.chunk_rows >= 1, "batch.chunk_rows", self.chunk_rows, "a number above 0")
        workers = self.workers
        _require(
            workers is None or workers >= 1, "batch.workers", workers, "null or a number above 0"
        )


@dataclass(frozen=True)
class RetrainParams:
    labelled_input: str
    promotion: str  # rule | merged
    base_branch: str
    branch_prefix: str
    github_api: str
    github_repository: str | None


@dataclass(frozen=True)
class MonitorParams:
    sample_rows: int
    drift_share: float
    seed: int

    def __post_init__(self) -> None:
        share = self.drift_share
        _require(0 < share <= 1, "monitor.drift_share", share, "a share above 0, up to 1")


@dataclass(frozen=True)
class Params:
    dataset: DatasetParams
    validate: ValidateParams
    prepare: PrepareParams
    train: TrainParams
    evaluate: EvaluateParams
    behaviour: BehaviourParams
    predict: PredictParams
    serve: ServeParams
    mlflow: MlflowParams
    registry: RegistryParams
    batch: BatchParams
    retrain: RetrainParams
    monitor: MonitorParams
    # The file these were read from, for messages; not a param.
    source: str = dataclasses.field(
        default=str(DEFAULT_PARAMS), compare=False, metadata={"not_a_param": True}
    )

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values.pop("source")
        return values


# Where batch files live depends on the environment (local stack, dev, prod), not on the
# experiment: the settings `textclf stack up` and `textclf infra settings` write override these.
BATCH_LOCATION_ENV = {"input": "TEXTCLF_BATCH_INPUT", "output": "TEXTCLF_BATCH_OUTPUT"}
# How many cores scoring may use depends on the host too.
BATCH_WORKERS_ENV = "TEXTCLF_BATCH_WORKERS"
LABELLED_INPUT_ENV = "TEXTCLF_LABELLED_INPUT"


def read_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """The params file as typed sections, each field checked; textclf.ml.params.load_params
    adds the checks that need the ML layer (use that one)."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            path, "the params file does not exist", "run from the repository root, or pass --params"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise DataError(path, f"not valid YAML ({error})", "fix the YAML syntax") from None
    try:
        params = _build(Params, raw, prefix="")
    except ParamsError as error:
        raise error.in_file(path) from None
    env = os.environ
    batch: dict[str, Any] = {
        key: env[var] for key, var in BATCH_LOCATION_ENV.items() if env.get(var)
    }
    if env.get(BATCH_WORKERS_ENV):
        batch["workers"] = _workers_from_env(env[BATCH_WORKERS_ENV])
    retrain = {
        "labelled_input": os.environ.get(LABELLED_INPUT_ENV) or params.retrain.labelled_input
    }
    return dataclasses.replace(
        params,
        batch=dataclasses.replace(params.batch, **batch),
        retrain=dataclasses.replace(params.retrain, **retrain),
        source=str(path),
    )


def _workers_from_env(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ParamsError(
            BATCH_WORKERS_ENV,
            f"the environment variable {BATCH_WORKERS_ENV} is {value!r}",
            "set it to a number above 0, or unset it to use batch.workers",
        )
    return int(value)


def build_section(cls: type, raw: Any, name: str) -> Any:
    """One section of the params (e.g. BatchParams) from its mapping, checked as load_params
    checks it; for a section handed to another process as JSON."""
    return _build(cls, raw, f"{name}.")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise _field_error(prefix.rstrip("."), raw, "a mapping")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("not_a_param")]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ParamsError(
            f"{prefix}{unknown[0]}",
            f"unknown key '{prefix}{unknown[0]}'",
            f"use one of: {', '.join(sorted(fields))}",
        )
    missing = [name for name in fields if name not in raw]
    if missing:
        raise ParamsError(
            f"{prefix}{missing[0]}",
            f"the key '{prefix}{missing[0]}' is missing",
            "add it (the repository's params.yaml lists every key with its meaning)",
        )
    values = {}
    for name in fields:
        hint = hints[name]
        section = _section_type(hint)
        if section is not None and not (raw[name] is None and _nullable(hint)):
            values[name] = _build(section, raw[name], f"{prefix}{name}.")
        else:
            values[name] = _coerce(f"{prefix}{name}", raw[name], hint)
        if f"{prefix}{name}" in CHOICES:
            _choice(f"{prefix}{name}", values[name], CHOICES[f"{prefix}{name}"])
    return cls(**values)


def _section_type(hint: Any) -> type | None:
    """The dataclass a key holds (a nested section), also when it may be null."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    sections = [option for option in options if dataclasses.is_dataclass(option)]
    return sections[0] if sections else None


def _nullable(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


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


def check_choice(name: str, value: str) -> None:
    """A value given outside the params file (a command-line option) against its choices."""
    _choice(name, value, CHOICES[name])


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise _field_error(name, value, f"one of {', '.join(sorted(allowed))}")


def _require(condition: bool, name: str, value: Any, expected: str) -> None:
    if not condition:
        raise _field_error(name, value, expected)


def _field_error(name: str, value: Any, expected: str) -> ParamsError:
    return ParamsError(name, f"{name} is {value!r}", f"set it to {expected}")


def flatten(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested sections as dotted keys: {"train": {"seed": 1}} -> ("train.seed", 1)."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, f"{name}.")
        else:
            yield name, value
