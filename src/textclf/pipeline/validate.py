"""Validate: schema and content checks on the ingested table, with a JSON report.

Checks that fail raise one DataError listing every failure (with example rows); the report is
written only when the data passes, so a failed run leaves no output behind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from textclf.core.errors import DataError
from textclf.core.files import write_json
from textclf.core.layout import Layout
from textclf.core.params import (
    DatasetParams,
    NormalizeOptions,
    Params,
    PrepareParams,
    ValidateParams,
)
from textclf.core.tables import read_stage_output
from textclf.ml.text import normalize

REQUIRED = ("id", "text", "label", "split", "origin")
# U+FFFD is what a lossy decode leaves behind; C0 controls other than whitespace are never text.
BAD_CHARS = r"[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f]"


@dataclass
class Check:
    name: str
    passed: bool
    value: Any
    threshold: Any = None
    detail: str = ""
    examples: list[str] = field(default_factory=list)


def validate(
    table: pd.DataFrame,
    dataset: DatasetParams,
    params: ValidateParams,
    prepare: PrepareParams,
    source: str | Path,
) -> dict[str, Any]:
    """Run every check; return the report, or raise DataError naming each failed check."""
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise DataError(
            source, f"missing column(s) {', '.join(missing)}", "re-run the ingest stage"
        )
    checks = [
        _empty_text(table, params),
        _known_labels(table, dataset, params),
        _several_labels(table),
        _test_labels_in_train(table, params),
        _duplicates(table, params),
        _bad_characters(table, params),
        _leakage(table, params, prepare.normalize),
    ]
    failed = [check for check in checks if not check.passed]
    if failed:
        lines = [
            f"{check.name}: {check.detail}"
            + (f" (e.g. {', '.join(check.examples)})" if check.examples else "")
            for check in failed
        ]
        raise DataError(
            source,
            f"{len(failed)} validation check(s) failed:\n  " + "\n  ".join(lines) + "\n",
            "fix the rows named above in the raw data, or relax the thresholds in the "
            "validate section of params.yaml if they are expected",
        )
    return {
        "rows": len(table),
        "label_counts": _label_counts(table),
        "checks": [asdict(check) for check in checks],
    }


def _examples(table: pd.DataFrame, mask: pd.Series, limit: int) -> list[str]:
    return table.loc[mask, "origin"].head(limit).astype(str).tolist()


def _empty_text(table: pd.DataFrame, params: ValidateParams) -> Check:
    short = table["text"].fillna("").str.strip().str.len() < params.min_text_chars
    count = int(short.sum())
    return Check(
        "empty_text",
        count == 0,
        count,
        params.min_text_chars,
        f"{count} row(s) with fewer than {params.min_text_chars} non-blank characters",
        _examples(table, short, params.examples),
    )


def _known_labels(table: pd.DataFrame, dataset: DatasetParams, params: ValidateParams) -> Check:
    if dataset.labels is None:
        return Check("known_labels", True, None, detail="dataset.labels not set; any label allowed")
    unknown = ~table["label"].isin(dataset.labels)
    values = sorted(table.loc[unknown, "label"].unique().tolist())
    return Check(
        "known_labels",
        not unknown.any(),
        values,
        dataset.labels,
        f"label value(s) {values} are not in dataset.labels {dataset.labels}",
        _examples(table, unknown, params.examples),
    )


def _test_labels_in_train(table: pd.DataFrame, params: ValidateParams) -> Check:
    """A class that only the given test split has cannot be learned, and evaluation cannot
    score it: caught here, before any stage's outputs are replaced."""
    train = set(table.loc[table["split"] == "train", "label"])
    tested = table["split"] == "test"
    if not train or not tested.any():  # splits made later, by prepare: it stratifies
        return Check("test_labels_in_train", True, None, detail="no given train/test split")
    unseen = tested & ~table["label"].isin(train)
    values = sorted(table.loc[unseen, "label"].unique().tolist())
    return Check(
        "test_labels_in_train",
        not unseen.any(),
        values,
        sorted(train),
        f"test label value(s) {values} never occur in train {sorted(train)}",
        _examples(table, unseen, params.examples),
    )


def _several_labels(table: pd.DataFrame) -> Check:
    labels = sorted(table["label"].unique().tolist())
    return Check(
        "at_least_two_labels",
        len(labels) >= 2,
        len(labels),
        2,
        f"only one label value {labels}; a classifier needs two or more",
    )


def _duplicates(table: pd.DataFrame, params: ValidateParams) -> Check:
    repeated = table.duplicated(subset=["split", "text"], keep="first")
    fraction = float(repeated.mean()) if len(table) else 0.0
    conflicting = table.groupby("text")["label"].transform("nunique") > 1
    return Check(
        "duplicates",
        fraction <= params.max_duplicate_fraction,
        round(fraction, 6),
        params.max_duplicate_fraction,
        f"{int(repeated.sum())} repeated text(s) within a split ({fraction:.2%}); "
        f"{int(conflicting.sum())} row(s) share a text with a different label",
        _examples(table, repeated, params.examples),
    )


def _bad_characters(table: pd.DataFrame, params: ValidateParams) -> Check:
    bad = table["text"].str.contains(BAD_CHARS, regex=True)
    fraction = float(bad.mean()) if len(table) else 0.0
    return Check(
        "encoding",
        fraction <= params.max_bad_char_fraction,
        round(fraction, 6),
        params.max_bad_char_fraction,
        f"{int(bad.sum())} row(s) contain U+FFFD or control characters, "
        "the trace of a wrong decode",
        _examples(table, bad, params.examples),
    )


def _leakage(table: pd.DataFrame, params: ValidateParams, options: NormalizeOptions) -> Check:
    train = table[table["split"] == "train"]
    test = table[table["split"] == "test"]
    if train.empty or test.empty:
        return Check(
            "train_test_leakage",
            True,
            0.0,
            params.max_leakage_fraction,
            "no dataset split of its own; prepare makes a disjoint one",
        )
    train_keys = {normalize(text, options) for text in train["text"]}
    leaked = test["text"].map(lambda text: normalize(text, options)).isin(train_keys)
    fraction = float(leaked.mean())
    return Check(
        "train_test_leakage",
        fraction <= params.max_leakage_fraction,
        round(fraction, 6),
        params.max_leakage_fraction,
        f"{int(leaked.sum())} test row(s) ({fraction:.2%}) also appear in train",
        _examples(test, leaked, params.examples),
    )


def _label_counts(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    split = table["split"].replace("", "unsplit")
    counts = table.groupby([split, "label"]).size()
    return {
        str(name): {str(label): int(n) for label, n in group.droplevel(0).items()}
        for name, group in counts.groupby(level=0)
    }


def run(params: Params, layout: Layout) -> dict:
    """The validate stage: reports/validation.json, or an error naming the bad rows."""
    table = read_stage_output(layout.labelled, "ingest")
    report = validate(table, params.dataset, params.validate, params.prepare, layout.labelled)
    write_json(report, layout.validation_report)
    return report
