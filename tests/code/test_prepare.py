from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import make
from textclf.core.errors import DataError
from textclf.core.params import PrepareParams
from textclf.pipeline.prepare import prepare

NO_VALIDATION = make(PrepareParams, validation_size=0)


def test_own_test_split_is_kept_and_text_normalised(labelled_table: pd.DataFrame) -> None:
    splits = prepare(labelled_table, NO_VALIDATION)
    assert len(splits.train) == 8 and len(splits.test) == 8
    assert splits.summary["own_test_split"] is True
    assert not splits.train["text"].str.contains("<br").any()


def test_duplicates_and_train_test_overlap_dropped_from_train(labelled_table) -> None:
    table = labelled_table.copy()
    table.loc[1, "text"] = table.loc[0, "text"]  # duplicate within train
    table.loc[2, "text"] = table.loc[10, "text"]  # a train row that is also in test
    splits = prepare(table, NO_VALIDATION)
    assert splits.summary["train_duplicates_dropped"] == 1
    assert splits.summary["train_rows_in_test_dropped"] == 1
    assert len(splits.train) == 6
    assert len(splits.test) == 8  # the benchmark test split is never changed
    assert not set(splits.train["text"]) & set(splits.test["text"])


def test_stratified_split_is_deterministic(labelled_table: pd.DataFrame) -> None:
    unsplit = labelled_table.assign(split="")
    params = make(PrepareParams, test_size=0.25, seed=7, validation_size=0)
    first = prepare(unsplit, params)
    second = prepare(unsplit.sample(frac=1, random_state=1), params)  # order must not matter
    assert sorted(first.test["id"]) == sorted(second.test["id"])
    assert first.test["label"].value_counts().to_dict() == {"pos": 2, "neg": 2}
    assert not set(first.train["id"]) & set(first.test["id"])
    other_seed = prepare(unsplit, make(PrepareParams, test_size=0.25, seed=8, validation_size=0))
    assert sorted(other_seed.test["id"]) != sorted(first.test["id"])


def test_class_with_one_row_cannot_be_stratified(labelled_table: pd.DataFrame) -> None:
    table = labelled_table.assign(split="")
    table.loc[0, "label"] = "rare"
    with pytest.raises(DataError, match="single row") as error:
        prepare(table, make(PrepareParams), "data.parquet")
    assert "rare" in str(error.value)


def test_validation_split_is_held_out_of_train_stratified_and_seeded(labelled_table) -> None:
    table = pd.concat(
        labelled_table.assign(
            id=labelled_table["id"] + f"-{copy}", text=labelled_table["text"] + f" {copy}"
        )
        for copy in range(5)
    )
    params = make(PrepareParams, validation_size=0.25, seed=3)
    splits = prepare(table, params)
    assert len(splits.validation) == 10 and len(splits.train) == 30 and len(splits.test) == 40
    assert splits.validation["label"].value_counts().to_dict() == {"pos": 5, "neg": 5}
    assert (splits.validation["split"] == "validation").all()
    assert not set(splits.validation["id"]) & (set(splits.train["id"]) | set(splits.test["id"]))
    assert splits.summary["validation_rows"] == 10
    again = prepare(table.sample(frac=1, random_state=2), params)
    assert sorted(again.validation["id"]) == sorted(splits.validation["id"])
    assert prepare(table, make(PrepareParams, validation_size=0)).validation.empty


def test_too_few_rows_for_a_validation_split_is_named(labelled_table) -> None:
    with pytest.raises(DataError, match="validation split") as error:
        prepare(labelled_table, make(PrepareParams, validation_size=0.1), "data.parquet")
    assert "prepare.validation_size" in str(error.value)
