"""Data checks: each bad input fails with the check, the rows and the fix named."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import make
from textclf.core.errors import DataError
from textclf.core.params import DatasetParams, PrepareParams, ValidateParams
from textclf.pipeline.validate import validate

STRICT = make(ValidateParams, max_duplicate_fraction=0.0, max_leakage_fraction=0.0)


def run(table: pd.DataFrame, dataset: DatasetParams | None = None, params=STRICT) -> dict:
    return validate(
        table, dataset or make(DatasetParams), params, make(PrepareParams), "labelled.parquet"
    )


def test_clean_table_passes_with_report(labelled_table: pd.DataFrame) -> None:
    report = run(labelled_table)
    assert report["rows"] == 16
    assert report["label_counts"] == {"test": {"neg": 4, "pos": 4}, "train": {"neg": 4, "pos": 4}}
    assert all(check["passed"] for check in report["checks"])


def failure(table: pd.DataFrame, **kwargs) -> str:
    with pytest.raises(DataError) as error:
        run(table, **kwargs)
    assert "labelled.parquet" in str(error.value)
    assert "params.yaml" in error.value.fix
    return str(error.value)


def test_empty_text(labelled_table: pd.DataFrame) -> None:
    labelled_table.loc[3, "text"] = "   "
    message = failure(labelled_table)
    assert "empty_text: 1 row(s)" in message and "data.csv:4" in message


def test_single_class(labelled_table: pd.DataFrame) -> None:
    message = failure(labelled_table.assign(label="pos"))
    assert "only one label value ['pos']" in message


def test_unknown_labels(labelled_table: pd.DataFrame) -> None:
    labelled_table.loc[0, "label"] = "positive"
    message = failure(labelled_table, dataset=make(DatasetParams, labels=["pos", "neg"]))
    assert "['positive']" in message and "data.csv:1" in message


def test_duplicates(labelled_table: pd.DataFrame) -> None:
    labelled_table.loc[1, "text"] = labelled_table.loc[0, "text"]
    assert "duplicates: 1 repeated text" in failure(labelled_table)


def test_encoding_damage(labelled_table: pd.DataFrame) -> None:
    labelled_table.loc[5, "text"] = "caf\ufffd scene"
    assert "encoding: 1 row(s) contain U+FFFD" in failure(labelled_table)


def test_train_test_leakage(labelled_table: pd.DataFrame) -> None:
    labelled_table.loc[9, "text"] = labelled_table.loc[0, "text"] + "<br />"
    message = failure(labelled_table)  # same review once normalised
    assert "train_test_leakage: 1 test row(s)" in message and "data.csv:10" in message


def test_thresholds_allow_small_known_problems(labelled_table: pd.DataFrame) -> None:
    labelled_table.loc[9, "text"] = labelled_table.loc[0, "text"]
    report = run(labelled_table, params=make(ValidateParams, max_leakage_fraction=0.2))
    leakage = next(c for c in report["checks"] if c["name"] == "train_test_leakage")
    assert leakage["passed"] and leakage["value"] == 0.125


def test_all_failures_reported_at_once(labelled_table: pd.DataFrame) -> None:
    labelled_table.loc[3, "text"] = ""
    labelled_table["label"] = "pos"
    assert "2 validation check(s) failed" in failure(labelled_table)


def test_missing_columns(labelled_table: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="missing column"):
        run(labelled_table.drop(columns=["label"]))


def test_a_test_class_that_train_lacks_fails_before_evaluate(labelled_table: pd.DataFrame) -> None:
    test_row = labelled_table.index[labelled_table["split"] == "test"][0]
    labelled_table.loc[test_row, "label"] = "2"
    message = failure(labelled_table, params=make(ValidateParams, max_leakage_fraction=1.0))
    assert "test_labels_in_train: test label value(s) ['2'] never occur in train" in message
