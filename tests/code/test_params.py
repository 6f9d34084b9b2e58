"""The params file is the one source of every value: a missing key is an error that names it, and
errors name the file actually read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import REPO_ROOT
from textclf.cli import app
from textclf.core.errors import DataError
from textclf.ml.params import load_params

REPO_YAML = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def write(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    change(raw)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repository_params_load() -> None:
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.dataset.source == "data/raw/imdb_sample.tar.gz"
    assert params.train.classifier["kind"] == "logreg"
    assert params.as_dict()["train"]["vectorizer"]["ngram_range"] == [1, 3]
    assert "source" not in params.as_dict()  # where they were read from is not a param


@pytest.mark.parametrize(
    ("section", "key"),
    [("train", "vectorizer"), ("registry", "model_name"), ("prepare", "normalize")],
)
def test_a_missing_key_is_named_not_defaulted(tmp_path: Path, section: str, key: str) -> None:
    path = write(tmp_path, lambda raw: raw[section].pop(key))
    with pytest.raises(DataError) as error:
        load_params(path)
    assert error.value.field == f"{section}.{key}"
    assert str(error.value).startswith(f"{path}, field '{section}.{key}': the key")


def test_a_missing_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, lambda raw: raw.pop("monitor"))
    with pytest.raises(DataError, match="'monitor' is missing"):
        load_params(path)


@pytest.mark.parametrize(
    ("edit", "field", "fix"),
    [
        (lambda raw: raw["dataset"].update(sorce="x"), "dataset.sorce", "use one of"),
        (lambda raw: raw["prepare"].update(test_size=2), "prepare.test_size", "between 0 and 1"),
        (lambda raw: raw["prepare"].update(seed="abc"), "prepare.seed", "int"),
        (lambda raw: raw["dataset"].update(format="xlsx"), "dataset.format", "csv"),
        (lambda raw: raw.update(validate=3), "validate", "mapping"),
        (lambda raw: raw["batch"].update(engine="dask"), "batch.engine", "emr-serverless"),
        (
            lambda raw: raw["batch"]["emr"].update(timeout_minutes=2),
            "batch.emr.timeout_minutes",
            "EMR Serverless's minimum",
        ),
        (lambda raw: raw["batch"].update(workers=0), "batch.workers", "null or a number"),
        (
            lambda raw: raw["train"]["word_vectors"].update(dims=0),
            "train.word_vectors.dims",
            "above 0",
        ),
        (
            lambda raw: raw["train"]["word_vectors"].pop("window"),
            "train.word_vectors.window",
            "add it",
        ),
        (lambda raw: raw["train"].update(word_vectors=200), "train.word_vectors", "mapping"),
        (
            lambda raw: raw["batch"]["spark"].update(partitions_per_core=0),
            "batch.spark.partitions_per_core",
            "above 0",
        ),
    ],
)
def test_bad_values_name_the_field_and_the_file(tmp_path: Path, edit, field: str, fix: str):
    path = write(tmp_path, edit)
    with pytest.raises(DataError) as error:
        load_params(path)
    assert error.value.field == field
    assert fix in error.value.fix
    assert str(error.value).startswith(str(path))


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        # values scikit-learn rejects: asked without fitting, when the file is read
        (lambda raw: raw["train"]["classifier"].update(C="abc"), "train.classifier.C", "Got 'abc'"),
        (lambda raw: raw["train"]["classifier"].update(C=-1), "train.classifier.C", "Got -1"),
        (
            lambda raw: raw["train"]["vectorizer"].update(ngram_range=[3, 1]),
            "train.vectorizer.ngram_range",
            "lower boundary larger than the upper boundary",
        ),
        # rules that span fields
        (
            lambda raw: (
                raw["train"].update(calibration="isotonic"),
                raw["prepare"].update(validation_size=0),
            ),
            "train.calibration",
            "fitted on the validation split",
        ),
        (
            lambda raw: raw["train"].update(nb_weighting=False),
            "train.nb_interpolation",
            "nb_weighting is off",
        ),
        (lambda raw: raw["registry"].update(metric="acuracy"), "registry.metric", "'acuracy'"),
    ],
)
def test_every_rule_is_checked_when_the_file_is_read(tmp_path: Path, edit, field, problem):
    """Not when the value is first used: a retrain would otherwise push a branch and register a
    version before promotion found the metric misspelt."""
    path = write(tmp_path, edit)
    with pytest.raises(DataError) as error:
        load_params(path)
    assert error.value.field == field
    assert problem in error.value.problem
    assert str(error.value).startswith(str(path))


def test_a_value_scikit_learn_rejects_is_exit_2_before_any_data_is_read(tmp_path) -> None:
    path = write(tmp_path, lambda raw: raw["train"]["classifier"].update(C=-1))
    result = CliRunner().invoke(app, ["ingest", "--params", str(path), "--root", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{path}, field 'train.classifier.C'" in result.output
    assert not (tmp_path / "data").exists()


def test_an_optional_section_may_be_null(tmp_path: Path) -> None:
    assert load_params(REPO_ROOT / "params.yaml").train.word_vectors.dims == 200
    path = write(tmp_path, lambda raw: raw["train"].update(word_vectors=None))
    assert load_params(path).train.word_vectors is None


def test_a_bad_estimator_key_names_the_params_file_given(tmp_path, monkeypatch) -> None:
    """Errors found when the params are used (not read) name the file passed with --params."""
    path = write(tmp_path, lambda raw: raw["train"]["classifier"].update(alpha_=1))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "--params", str(path)])
    assert result.exit_code == 2
    assert f"{path}, field 'train.classifier.alpha_'" in result.output
    assert "LogisticRegression has no parameter 'alpha_'" in result.output


def test_batch_workers_default_to_every_core_and_the_environment_wins(monkeypatch) -> None:
    from textclf.ml.workers import available_cores, worker_count

    assert load_params(REPO_ROOT / "params.yaml").batch.workers is None
    assert worker_count(None) == available_cores() >= 1
    monkeypatch.setenv("TEXTCLF_BATCH_WORKERS", "3")
    assert load_params(REPO_ROOT / "params.yaml").batch.workers == 3
    monkeypatch.setenv("TEXTCLF_BATCH_WORKERS", "all")
    with pytest.raises(DataError) as error:
        load_params(REPO_ROOT / "params.yaml")
    assert error.value.field == "TEXTCLF_BATCH_WORKERS" and "unset it" in error.value.fix


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_params(tmp_path / "params.yaml")
