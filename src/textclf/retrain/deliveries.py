"""New labelled data in: fold labelled files delivered to a location (local or `s3://`) into the
versioned dataset.

Each delivered file becomes `data/labelled/<fingerprint>.parquet`, a DVC-tracked file named by
the delivered file's content hash, so a file delivered again is recognised and counted once.
Rows whose (normalised) text is already in the dataset, in train or in test, or earlier in the
deliveries, are dropped and counted. The ingest stage reads the folder (`dataset.deliveries`) and
splits the new rows as `dataset.new_rows` says.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from textclf.core import storage
from textclf.core.errors import DataError
from textclf.core.files import write_parquet
from textclf.core.params import DatasetParams, NormalizeOptions
from textclf.core.tables import table_format
from textclf.ml.text import normalize
from textclf.pipeline.ingest import read_dataset_table, read_deliveries

log = logging.getLogger(__name__)


@dataclass
class FoldResult:
    added: list[dict] = field(default_factory=list)  # one entry per file folded in
    skipped: list[str] = field(default_factory=list)  # delivered before (same content)

    @property
    def rows(self) -> int:
        return sum(item["rows"] for item in self.added)

    def as_dict(self) -> dict:
        return {**asdict(self), "rows": self.rows}


def fold_in(
    location: str,
    folder: Path,
    dataset: DatasetParams,
    options: NormalizeOptions,
    known_texts: pd.Series,
    already_proposed: set[str] = frozenset(),  # type: ignore[assignment]
    classes: list[str] | None = None,
) -> FoldResult:
    """Fold every labelled file under `location` that is not in `folder` yet (nor in
    `already_proposed`, the fingerprints an open retraining branch holds). With `classes` (the
    dataset's), a file labelled outside them is refused whole: new classes are a decision for
    params (dataset.labels), not for a delivery."""
    result = FoldResult()
    if not storage.exists(location):
        log.info("no labelled input at %s", location)
        return result
    seen = {normalize(text, options) for text in known_texts}
    seen |= {normalize(text, options) for text in read_deliveries(folder)["text"]}
    for path in storage.find_files(location):
        fmt = table_format(path)
        if not fmt:
            continue
        name = storage.relative(path, location) or path
        fingerprint = storage.fingerprint(path)
        target = folder / f"{fingerprint}.parquet"
        if fingerprint in already_proposed or target.exists() or _tracked(target):
            result.skipped.append(name)
            continue
        rows = read_dataset_table(path, fmt, dataset, labelled=True)
        if classes is not None:
            _check_classes(rows, classes, path, dataset.label_column)
        keys = rows["text"].map(lambda text: normalize(text, options))
        repeated_in_file = keys.duplicated()
        known = keys.isin(seen)
        kept = rows[~known & ~repeated_in_file]
        seen |= set(keys[~known])
        # when the file arrived, not when it was read: a retry after a failed retrain folds the
        # same bytes in, so DVC's run cache restores the stages the first try already ran
        received = storage.modified_at(path)
        delivered = kept[["id", "text", "label"]].assign(
            id=[f"{fingerprint[:12]}/{value}" for value in kept["id"]],
            delivery=fingerprint,
            received_at=received,
        )
        if delivered.empty:
            log.info("%s: every row is already in the dataset", path)
        write_parquet(delivered.reset_index(drop=True), target)
        entry = {
            "input": name,
            "fingerprint": fingerprint,
            "file": str(target),
            "rows": len(delivered),
            "dropped_known": int(known.sum()),
            "dropped_repeated": int((repeated_in_file & ~known).sum()),
        }
        log.info("folded in %s", entry)
        result.added.append(entry)
    return result


def _check_classes(rows: pd.DataFrame, classes: list[str], path: str, column: str) -> None:
    outside = ~rows["label"].isin(classes)
    if outside.any():
        first = int(outside.to_numpy().nonzero()[0][0])
        values = sorted(rows.loc[outside, "label"].unique())
        raise DataError(
            path,
            f"{int(outside.sum())} row(s) are labelled outside the dataset's classes "
            f"{classes}: {', '.join(map(repr, values[:5]))}",
            "relabel them with the dataset's classes, or list the new classes in dataset.labels",
            row=first + 1,
            field=column,
        )


def _tracked(target: Path) -> bool:
    return target.with_name(target.name + ".dvc").exists()
