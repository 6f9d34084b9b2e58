"""New labelled data in: a dataset as a folder of files, deliveries folded in once each, and
their rows split as the params say."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import NEGATIVE, POSITIVE, make
from textclf.core.errors import DataError
from textclf.core.params import DatasetParams, NormalizeOptions, PrepareParams
from textclf.pipeline.ingest import ingest
from textclf.pipeline.prepare import prepare
from textclf.retrain.deliveries import fold_in


def rows(texts: list[str], label: str) -> pd.DataFrame:
    return pd.DataFrame({"text": texts, "label": label})


def test_a_folder_with_train_and_test_files(tmp_path: Path) -> None:
    folder = tmp_path / "tweets"
    (folder / "parts").mkdir(parents=True)
    rows(POSITIVE, "pos").to_csv(folder / "train.csv", index=False)
    rows(NEGATIVE, "neg").to_parquet(folder / "parts" / "train-2.parquet")
    rows(["fine", "bad"], "x").to_json(folder / "test.jsonl", orient="records", lines=True)
    params = make(
        DatasetParams,
        source=str(folder),
        split_from_path=True,
        deliveries=str(tmp_path / "none"),
    )
    table = ingest(params).labelled
    assert table.groupby("split").size().to_dict() == {"test": 2, "train": 8}
    assert table["id"].tolist()[:2] == ["parts/train-2/1", "parts/train-2/2"]
    assert table["id"].is_unique

    rows(["?"], "y").to_csv(folder / "extra.csv", index=False)
    with pytest.raises(DataError, match="names neither train nor test"):
        ingest(params)


def test_deliveries_are_folded_once_deduplicated_and_split(tmp_path: Path) -> None:
    incoming, folder = tmp_path / "incoming", tmp_path / "data/labelled"
    incoming.mkdir()
    known = pd.Series(["Already in the test split."])
    options = make(NormalizeOptions)
    dataset = make(DatasetParams, id_column=None)
    first = rows(["New review one.", "New review two.", "New review one.", known[0]], "pos")
    first.to_csv(incoming / "day1.csv", index=False)
    folded = fold_in(str(incoming), folder, dataset, options, known)
    assert [item["rows"] for item in folded.added] == [2]
    assert folded.added[0]["dropped_known"] == 1 and folded.added[0]["dropped_repeated"] == 1

    again = fold_in(str(incoming), folder, dataset, options, known)  # delivered again
    assert again.added == [] and again.skipped == ["day1.csv"]

    rows(["New review two.", "Third one, newest."], "neg").to_csv(incoming / "day2.csv")
    os.utime(incoming / "day2.csv", (2_000_000_000, 2_000_000_000))  # delivered a day later
    os.utime(incoming / "day1.csv", (2_000_000_000 - 86_400, 2_000_000_000 - 86_400))
    later = fold_in(str(incoming), folder, dataset, options, known)
    assert [item["rows"] for item in later.added] == [1]  # "two" was delivered before

    params = make(
        DatasetParams,
        source=str(incoming / "day1.csv"),
        deliveries=str(folder),
        new_rows="newest_to_test",
        new_rows_test_share=0.34,
    )
    table = ingest(params).labelled  # the dataset's own rows, then the deliveries
    new = table[table["origin"].str.endswith(".parquet")]
    assert sorted(new["text"]) == ["New review one.", "New review two.", "Third one, newest."]
    assert new.iloc[-1]["split"] == "test" and set(new.iloc[:-1]["split"]) == {"train"}


def test_prepare_keeps_given_splits_and_splits_the_rest(labelled_table: pd.DataFrame) -> None:
    unsplit = labelled_table.assign(split="")
    delivered = pd.DataFrame(
        {"id": ["d1", "d2"], "text": ["Delivered A", "Delivered B"], "label": ["pos", "neg"],
         "split": ["train", "test"], "origin": ["x.parquet", "x.parquet"]}
    )  # fmt: skip
    splits = prepare(
        pd.concat([unsplit, delivered]), make(PrepareParams, test_size=0.25, validation_size=0)
    )
    assert "Delivered A" in set(splits.train["text"]) and "Delivered B" in set(splits.test["text"])
    assert len(splits.train) + len(splits.test) == len(unsplit) + 2
    assert splits.summary["own_test_split"] is False


def test_a_delivery_labelled_outside_the_classes_is_refused_whole(tmp_path: Path) -> None:
    """positive/negative for a pos/neg dataset: never folded in as two new classes."""
    incoming, folder = tmp_path / "incoming", tmp_path / "data/labelled"
    incoming.mkdir()
    delivered = pd.concat([rows(["Fine."], "pos"), rows(["Loved it.", "Hated it."], "positive")])
    delivered.to_csv(incoming / "day1.csv", index=False)
    dataset, options = make(DatasetParams, id_column=None), make(NormalizeOptions)
    with pytest.raises(DataError, match="labelled outside the dataset's classes") as error:
        fold_in(
            str(incoming), folder, dataset, options, pd.Series(dtype=str), set(), ["neg", "pos"]
        )
    assert error.value.row == 2 and "'positive'" in str(error.value)
    assert not folder.exists() or not any(folder.iterdir())  # nothing half folded in


def test_a_delivery_folded_in_again_gives_the_same_bytes(tmp_path: Path) -> None:
    """A retry after a failed retrain folds the same file in a fresh tree: the same bytes, so
    DVC's run cache can restore the stages the first try ran. received_at is when the file
    arrived (its modification time), not when it was read."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    rows(["A new review.", "Another one."], "pos").to_csv(incoming / "day.csv", index=False)
    os.utime(incoming / "day.csv", (1_800_000_000, 1_800_000_000))
    options, dataset = make(NormalizeOptions), make(DatasetParams, id_column=None)
    made = []
    for attempt in ("first", "retry"):
        folded = fold_in(str(incoming), tmp_path / attempt, dataset, options, pd.Series([]))
        made.append(Path(folded.added[0]["file"]))
    assert made[0].read_bytes() == made[1].read_bytes()
    assert set(pd.read_parquet(made[0])["received_at"]) == {"2027-01-15T08:00:00+00:00"}
