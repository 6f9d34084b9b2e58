"""Prepare: normalise text, drop duplicates and leaked rows, split deterministically.

A dataset's own test split is kept as it is (so benchmark numbers stay comparable); otherwise a
seeded, stratified split is made from `prepare.test_size`. A validation split
(`prepare.validation_size` of train, stratified and seeded) is held out of train for what must
not be fitted on the test split: calibration now, model selection later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from textclf.core.errors import DataError
from textclf.core.files import write_json, write_parquet
from textclf.core.layout import Layout
from textclf.core.params import Params, PrepareParams
from textclf.core.tables import read_stage_output
from textclf.ml.text import normalize


@dataclass
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    summary: dict


def prepare(table: pd.DataFrame, params: PrepareParams, source: str = "labelled data") -> Splits:
    table = table.assign(text=table["text"].map(lambda text: normalize(text, params.normalize)))
    emptied = table["text"] == ""
    table = table[~emptied]
    # Rows that come with a split keep it (a dataset's own split, delivered rows); the others
    # are split here, seeded and stratified.
    unsplit = ~table["split"].isin(["train", "test"])
    has_own_split = not unsplit.any()
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    if not has_own_split:
        new_train, new_test = _stratified_split(
            table[unsplit], params.test_size, params.seed, source, "prepare.test_size"
        )
        train, test = pd.concat([new_train, train]), pd.concat([new_test, test])
    before = len(train)
    if params.drop_duplicates:
        train = train.drop_duplicates(subset=["text"], keep="first")
    duplicates_dropped = before - len(train)
    before = len(train)
    if params.drop_train_test_overlap:
        train = train[~train["text"].isin(set(test["text"]))]
    overlap_dropped = before - len(train)
    validation = train.iloc[:0]
    if params.validation_size > 0:
        train, validation = _stratified_split(
            train,
            params.validation_size,
            params.seed,
            f"{source} (validation split)",
            "prepare.validation_size",
        )
    summary = {
        "own_test_split": has_own_split,
        "emptied_by_normalisation": int(emptied.sum()),
        "train_duplicates_dropped": duplicates_dropped,
        "train_rows_in_test_dropped": overlap_dropped,
        "train_rows": len(train),
        "validation_rows": len(validation),
        "test_rows": len(test),
    }
    return Splits(
        train.assign(split="train").reset_index(drop=True),
        validation.assign(split="validation").reset_index(drop=True),
        test.assign(split="test").reset_index(drop=True),
        summary,
    )


def _stratified_split(
    table: pd.DataFrame, share: float, seed: int, source: str, param: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rest, `share` of the rows), stratified by label."""
    counts = table["label"].value_counts()
    rare = counts[counts < 2]
    if not rare.empty:
        raise DataError(
            source,
            f"label(s) {rare.index.tolist()} have a single row, too few to stratify",
            "add examples of those labels or remove them",
            field="label",
        )
    held_out_rows = math.ceil(share * len(table))
    if min(held_out_rows, len(table) - held_out_rows) < len(counts):
        raise DataError(
            source,
            f"{len(table)} rows are too few to hold out {share:.0%} with every one of the "
            f"{len(counts)} labels on both sides",
            f"change {param}, or add rows",
        )
    # Sort first so the split depends only on the data and the seed, not on file order.
    table = table.sort_values(["label", "id"], kind="stable").reset_index(drop=True)
    rest, held_out = train_test_split(
        table, test_size=share, random_state=seed, stratify=table["label"]
    )
    return rest.sort_index(), held_out.sort_index()


def run(params: Params, layout: Layout) -> dict:
    """The prepare stage: data/prepared/{train,validation,test}.parquet."""
    table = read_stage_output(layout.labelled, "ingest")
    splits = prepare(table, params.prepare, str(layout.labelled))
    write_parquet(splits.train, layout.train_split)
    write_parquet(splits.validation, layout.validation_split)
    write_parquet(splits.test, layout.test_split)
    write_json(splits.summary, layout.prepare_summary)
    return splits.summary
