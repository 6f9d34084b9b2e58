"""Ingest: read a raw dataset into one normalised table.

Output columns: `id`, `text`, `label` (string), `split` (train/test, or empty when the dataset has
no split of its own), `origin` (file and row, for error messages), plus any metadata columns.
Unlabelled text (aclImdb's `train/unsup`, or `dataset.unlabelled_source`) is kept apart for
batch scoring.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from textclf.core.errors import DataError, ServiceUnavailable
from textclf.core.files import atomic_path, file_digest, write_parquet
from textclf.core.layout import Layout
from textclf.core.params import DatasetParams, Params
from textclf.core.progress import Progress
from textclf.core.tables import UTF8_FIX, read_table, table_format

COLUMNS = ["id", "text", "label", "split", "origin"]
ACLIMDB_FOLDERS = {"pos", "neg", "unsup"}


@dataclass
class IngestResult:
    labelled: pd.DataFrame
    unlabelled: pd.DataFrame


def ingest(params: DatasetParams) -> IngestResult:
    check_sources(params)  # both, before any is read: the error names the field that is wrong
    source = fetch(params.source, params.sha256, Path(params.download_dir))
    fmt = detect_format(source) if params.format == "auto" else params.format
    if fmt == "aclimdb":
        result = read_aclimdb(source, params.label_field)
    elif source.is_dir():
        result = IngestResult(read_table_folder(source, params), _empty_table())
    else:
        labelled = read_dataset_table(source, fmt, params, labelled=True)
        result = IngestResult(labelled, _empty_table())
    delivered = split_deliveries(read_deliveries(Path(params.deliveries)), params)
    if not delivered.empty:
        result.labelled = pd.concat([result.labelled, delivered], ignore_index=True)
    if params.unlabelled_source:
        extra = fetch(params.unlabelled_source, None, Path(params.download_dir))
        fmt = detect_format(extra) if params.format in ("auto", "aclimdb") else params.format
        unlabelled = read_dataset_table(extra, fmt, params, labelled=False)
        result.unlabelled = pd.concat([result.unlabelled, unlabelled], ignore_index=True)
    return result


def check_sources(params: DatasetParams) -> list[str]:
    """The dataset's sources (dataset.source, dataset.unlabelled_source), each a file or folder
    that exists or an http(s) URL; raises DataError naming the first that is neither. `make repro`
    asks this before `dvc repro`, whose own message for a missing dependency has no fix."""
    given = {"dataset.source": params.source, "dataset.unlabelled_source": params.unlabelled_source}
    for field, source in given.items():
        if source and not _is_url(source) and not Path(source).exists():
            raise DataError(
                source,
                "the dataset source does not exist",
                f"set {field} in params.yaml to an existing file or folder, or an http(s) URL",
                field=field,
            )
    return [source for source in given.values() if source]


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch(source: str, sha256: str | None, download_dir: Path) -> Path:
    """A local path as is (check_sources has said it exists); an http(s) URL downloaded once
    into `download_dir`. Checks `sha256`."""
    if _is_url(source):
        target = download_dir / PurePosixPath(source.split("?")[0]).name
        if not target.exists() or (sha256 and file_digest(target, "sha256") != sha256):
            _download(source, target, sha256)
        return target
    path = Path(source)
    if sha256 and path.is_file():
        actual = file_digest(path, "sha256")
        if actual != sha256:
            raise DataError(
                path,
                f"sha256 is {actual}, expected {sha256}",
                "use the right file, or update dataset.sha256 if the data changed on purpose",
            )
    return path


def _download(url: str, target: Path, sha256: str | None) -> None:
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_path(target) as tmp:
            with open(tmp, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if sha256 and digest.hexdigest() != sha256:
                raise DataError(
                    url,
                    f"downloaded file has sha256 {digest.hexdigest()}, expected {sha256}",
                    "check the URL, or update dataset.sha256 if the source changed on purpose",
                )
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            raise ServiceUnavailable(
                url, f"the server answered HTTP {error.code}", "try again later"
            ) from error
        raise DataError(url, f"download failed ({error})", "check the URL") from error
    except OSError as error:
        raise ServiceUnavailable(
            url, f"download failed ({error})", "check the network and try again"
        ) from error


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")) or (path.is_dir() and _find_aclimdb_root(path)):
        return "aclimdb"
    if path.is_dir():
        return "auto"  # a folder of tables: each file's format from its name
    fmt = table_format(name)
    if fmt is not None:
        return fmt
    raise DataError(
        path,
        "cannot tell the format from the name",
        "set dataset.format to aclimdb, csv, jsonl or parquet",
    )


# --- aclImdb: {train,test}/{pos,neg}/<id>_<rating>.txt and train/unsup/<id>_0.txt -------------


def read_aclimdb(path: Path, label_field: str = "sentiment") -> IngestResult:
    records = []
    if path.is_dir():
        root = _find_aclimdb_root(path)
        if root is None:
            raise DataError(path, "no aclImdb layout (train/pos, ...) found", "point at aclImdb/")
        files = sorted(root.glob("*/*/*.txt"))
        with Progress(f"reading {path.name}", total=len(files), unit="reviews") as progress:
            for file in files:
                record = _aclimdb_record(file.relative_to(root).as_posix(), path)
                if record is not None:
                    record["text"] = _decode(file.read_bytes(), file)
                    records.append(record)
                progress.update(1)
    else:
        records = _read_aclimdb_archive(path)
    if not records:
        raise DataError(path, "no reviews found", "point dataset.source at aclImdb_v1.tar.gz")
    table = pd.DataFrame.from_records(records)
    table["label"] = table["sentiment"] if label_field == "sentiment" else table["rating"]
    table["label"] = table["label"].astype(str)
    is_unlabelled = table["sentiment"] == "unsup"
    table = table.drop(columns=["sentiment"])
    labelled = table[~is_unlabelled].reset_index(drop=True)
    unlabelled = table[is_unlabelled].drop(columns=["label"]).reset_index(drop=True)
    unlabelled["split"] = "unlabelled"
    return IngestResult(_order(labelled), _order(unlabelled))


def _read_aclimdb_archive(path: Path) -> list[dict]:
    records = []
    try:
        with (
            tarfile.open(path, "r:*") as archive,
            Progress(f"reading {path.name}", unit="reviews") as progress,
        ):
            for member in archive:
                record = _aclimdb_record(member.name, path) if member.isfile() else None
                if record is not None:
                    data = archive.extractfile(member).read()  # type: ignore[union-attr]
                    record["text"] = _decode(data, f"{path}:{member.name}")
                    records.append(record)
                    progress.update(1)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DataError(
            path,
            f"the archive is truncated or corrupt ({type(error).__name__}: {error})",
            "download it again and compare its sha256 (set dataset.sha256 to check it)",
        ) from error
    return records


def _aclimdb_record(name: str, source: Path) -> dict | None:
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or parts[-2] not in ACLIMDB_FOLDERS or not parts[-1].endswith(".txt"):
        return None
    split, folder, filename = parts[-3], parts[-2], parts[-1]
    review_id, _, rating = filename[: -len(".txt")].partition("_")
    if not (review_id.isdigit() and rating.isdigit()):
        raise DataError(
            f"{source}:{name}",
            "file name is not <id>_<rating>.txt",
            "keep the original aclImdb file names",
        )
    return {
        "id": f"{split}/{folder}/{review_id}",
        "split": split,
        "sentiment": folder,
        "rating": int(rating),
        "origin": f"{source.name}:{name}",
    }


def _find_aclimdb_root(path: Path) -> Path | None:
    for candidate in (path, path / "aclImdb"):
        if (candidate / "train" / "pos").is_dir() or (candidate / "test" / "pos").is_dir():
            return candidate
    return None


def _decode(data: bytes, where: object) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            where,  # type: ignore[arg-type]
            f"bytes at offset {error.start} are not valid UTF-8",
            UTF8_FIX,
        ) from error


# --- CSV / JSONL / Parquet: one file, or a folder of them ---------------------------------------

SPLITS = ("train", "test")


def read_table_folder(folder: Path, params: DatasetParams) -> pd.DataFrame:
    """Every table below `folder` (e.g. train.csv and test.csv, or Parquet parts), in name
    order; with `dataset.split_from_path`, each file's split is the `train` or `test` in its
    name or folder."""
    files = sorted(path for path in folder.rglob("*") if path.is_file() and table_format(path.name))
    if not files:
        raise DataError(folder, "the folder holds no .csv, .jsonl or .parquet file", "add them")
    tables = []
    for path in files:
        relative = path.relative_to(folder)
        fmt = table_format(path.name) if params.format == "auto" else params.format
        table = read_dataset_table(path, fmt, params, labelled=True, name=relative.as_posix())
        if params.split_from_path:
            table["split"] = _split_from_path(relative, folder)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _split_from_path(relative: Path, folder: Path) -> str:
    words = re.findall(r"[a-z]+", relative.as_posix().lower())  # "parts/train-2.csv": parts, train
    found = {split for split in SPLITS if split in words}
    if len(found) != 1:
        raise DataError(
            folder / relative,
            "dataset.split_from_path is true, but the path names "
            + ("neither train nor test" if not found else "both train and test"),
            "name the file or its folder train or test, or set dataset.split_from_path: false",
        )
    return found.pop()


def read_dataset_table(
    path: str | Path, fmt: str, params: DatasetParams, *, labelled: bool, name: str | None = None
) -> pd.DataFrame:
    """One table with the dataset's columns renamed to id, text, label (and split); `name`
    (default: the file's name) is what ids and origins say the rows came from."""
    frame = read_table(str(path), fmt)
    name = name or PurePosixPath(str(path)).name
    wanted = {"text": params.text_column}
    if labelled:
        wanted["label"] = params.label_column
    if params.id_column:
        wanted["id"] = params.id_column
    if labelled and params.split_column:
        wanted["split"] = params.split_column
    missing = [column for column in wanted.values() if column not in frame.columns]
    if missing:
        raise DataError(
            path,
            f"missing column(s) {', '.join(missing)}; the file has {', '.join(map(str, frame))}",
            "set dataset.text_column / label_column / id_column / split_column in params.yaml",
            field=missing[0],
        )
    if labelled and frame.empty:
        raise DataError(
            path,
            "has no rows (a header only)",
            "add labelled rows, or point dataset.source at them",
        )
    if labelled:
        _check_labels_present(frame, params.label_column, path)
        _check_one_kind_of_label(frame[params.label_column], params.label_column, path)
    if params.id_column:
        _check_ids_name_one_text(frame, params.id_column, params.text_column, path)
    row_numbers = pd.RangeIndex(1, len(frame) + 1)
    table = frame.rename(columns={column: role for role, column in wanted.items()})
    table["origin"] = [f"{name}:{row}" for row in row_numbers]
    if "id" not in wanted:
        stem = name.split(".")[0]
        table["id"] = [f"{stem}/{row}" for row in row_numbers]
    table["id"] = table["id"].astype(str)
    if "split" not in wanted:
        table["split"] = "" if labelled else "unlabelled"
    table["text"] = table["text"].where(table["text"].notna(), "").astype(str)
    if labelled:
        table["label"] = _label_strings(table["label"])
    return _order(table.reset_index(drop=True))


def read_deliveries(folder: Path) -> pd.DataFrame:
    """The labelled rows folded in by retraining (textclf.retrain.deliveries), in delivery order."""
    columns = ["id", "text", "label", "delivery", "received_at"]
    if not folder.is_dir():
        return pd.DataFrame({column: pd.Series(dtype=str) for column in columns})
    missing = [p for p in folder.glob("*.parquet.dvc") if not p.with_suffix("").exists()]
    if missing:
        raise DataError(
            missing[0].with_suffix(""),
            "a delivery is tracked but its data is not here",
            "fetch it with `dvc pull` (make pull)",
        )
    parts = [pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))]
    if not parts:
        return pd.DataFrame({column: pd.Series(dtype=str) for column in columns})
    rows = pd.concat(parts, ignore_index=True)
    return rows.sort_values(["received_at", "id"], kind="stable").reset_index(drop=True)


def split_deliveries(rows: pd.DataFrame, params: DatasetParams) -> pd.DataFrame:
    """Delivered rows as ingested rows: all to train, or the newest share to test."""
    rows = rows.assign(split="train", origin=rows["delivery"].astype(str) + ".parquet")
    if params.new_rows == "newest_to_test" and len(rows):
        newest = round(len(rows) * params.new_rows_test_share)
        rows.loc[rows.index[len(rows) - newest :], "split"] = "test"
    return _order(rows.drop(columns=["delivery"]))


def _check_labels_present(frame: pd.DataFrame, column: str, path: str | Path) -> None:
    missing = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
    if missing.any():
        first = int(missing.to_numpy().nonzero()[0][0]) + 1
        raise DataError(
            path,
            f"{int(missing.sum())} row(s) have no label in '{column}'",
            "label them, drop them, or move them to dataset.unlabelled_source",
            row=first,
            field=column,
        )


def _check_one_kind_of_label(labels: pd.Series, column: str, path: str | Path) -> None:
    """Numbers and words in one label column are two datasets mixed up (0/1 beside
    disaster/not_disaster), not four classes."""
    values = _label_strings(labels)
    numeric = values.str.fullmatch(r"[-+]?\d+(\.\d+)?")
    if numeric.any() and not numeric.all():
        minority = ~numeric if numeric.sum() >= len(values) / 2 else numeric
        first = int(minority.to_numpy().nonzero()[0][0])
        raise DataError(
            path,
            f"the label column mixes numbers and words ({int(numeric.sum())} numeric, "
            f"{int((~numeric).sum())} not; e.g. {values.iloc[first]!r})",
            "use one set of labels for every row (relabel the odd rows), or set dataset.labels",
            row=first + 1,
            field=column,
        )


def _check_ids_name_one_text(
    frame: pd.DataFrame, id_column: str, text_column: str, path: str | Path
) -> None:
    texts_per_id = frame.groupby(frame[id_column].astype(str))[text_column].nunique(dropna=False)
    clashing = texts_per_id[texts_per_id > 1]
    if not clashing.empty:
        first_id = clashing.index[0]
        rows = (frame[id_column].astype(str) == first_id).to_numpy().nonzero()[0]
        raise DataError(
            path,
            f"{len(clashing)} id(s) name more than one text (e.g. id {first_id!r} on rows "
            f"{', '.join(str(r + 1) for r in rows[:3])})",
            "give every text its own id, or unset dataset.id_column to number the rows",
            row=int(rows[1]) + 1,
            field=id_column,
        )


def _label_strings(labels: pd.Series) -> pd.Series:
    """Labels as strings, so 1, 1.0 and '1' from different file formats are the same class."""
    if pd.api.types.is_float_dtype(labels) and (labels.dropna() % 1 == 0).all():
        labels = labels.astype("Int64")
    return labels.astype(str).str.strip()


def _order(table: pd.DataFrame) -> pd.DataFrame:
    leading = [column for column in COLUMNS if column in table.columns]
    return table[leading + [column for column in table.columns if column not in leading]]


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=str) for column in COLUMNS if column != "label"})


def run(params: Params, layout: Layout) -> dict:
    """The ingest stage: the dataset that params name, into data/interim/."""
    result = ingest(params.dataset)
    write_parquet(result.labelled, layout.labelled)
    write_parquet(result.unlabelled, layout.unlabelled)
    return {"labelled": len(result.labelled), "unlabelled": len(result.unlabelled)}
