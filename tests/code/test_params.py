from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from textclf.errors import DataError
from textclf.params import Params, load_params


def test_repository_params_load() -> None:
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.dataset.source == "data/raw/imdb_sample.tar.gz"
    assert params.train.classifier["kind"] == "logreg"
    assert params.as_dict()["train"]["vectorizer"]["ngram_range"] == [1, 3]


def test_missing_sections_take_defaults(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("dataset:\n  name: x\n")
    params = load_params(path)
    assert params.dataset.name == "x"
    assert params.prepare == Params().prepare


@pytest.mark.parametrize(
    ("text", "field", "fix"),
    [
        ("dataset:\n  sorce: x\n", "dataset.sorce", "use one of"),
        ("prepare:\n  test_size: 2\n", "prepare.test_size", "between 0 and 1"),
        ("prepare:\n  seed: abc\n", "prepare.seed", "int"),
        ("dataset:\n  format: xlsx\n", "dataset.format", "csv"),
        ("validate: 3\n", "validate", "mapping"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, text: str, field: str, fix: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(DataError) as error:
        load_params(path)
    assert error.value.field == field
    assert fix in error.value.fix
    assert str(path) in str(error.value)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_params(tmp_path / "params.yaml")
