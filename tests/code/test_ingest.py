from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import aclimdb_files, make, write_aclimdb_archive
from textclf.core.errors import DataError
from textclf.core.params import DatasetParams
from textclf.pipeline.ingest import detect_format, ingest, read_aclimdb


def test_aclimdb_archive_labels_from_folder_and_rating_from_name(aclimdb_archive: Path) -> None:
    result = read_aclimdb(aclimdb_archive)
    assert len(result.labelled) == 16
    assert set(result.labelled["split"]) == {"train", "test"}
    assert set(result.labelled["label"]) == {"pos", "neg"}
    row = result.labelled.set_index("id").loc["train/pos/1"]
    assert row["rating"] == 9
    assert row["text"].startswith("Brilliant")
    assert row["origin"].endswith("aclImdb/train/pos/1_9.txt")
    assert len(result.unlabelled) == 2
    assert "label" not in result.unlabelled
    assert set(result.unlabelled["split"]) == {"unlabelled"}


def test_aclimdb_rating_as_multiclass_label(aclimdb_archive: Path) -> None:
    labels = read_aclimdb(aclimdb_archive, label_field="rating").labelled["label"]
    assert set(labels) == {"1", "2", "3", "8", "9", "10"}


def test_aclimdb_directory_reads_like_archive(tmp_path: Path, aclimdb_archive: Path) -> None:
    for name, data in aclimdb_files().items():
        target = tmp_path / "extracted" / "aclImdb" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    from_dir = read_aclimdb(tmp_path / "extracted").labelled.sort_values("id")
    from_archive = read_aclimdb(aclimdb_archive).labelled.sort_values("id")
    assert from_dir[["id", "text", "label"]].values.tolist() == (
        from_archive[["id", "text", "label"]].values.tolist()
    )


def test_truncated_archive_is_reported(tmp_path: Path, aclimdb_archive: Path) -> None:
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(aclimdb_archive.read_bytes()[:-200])
    with pytest.raises(DataError, match="truncated or corrupt") as error:
        read_aclimdb(truncated)
    assert str(truncated) in str(error.value)
    assert "sha256" in error.value.fix


def test_non_utf8_review_names_the_member(tmp_path: Path) -> None:
    files = aclimdb_files()
    files["train/neg/7_2.txt"] = "Caf\xe9 scene was awful".encode("latin-1")
    archive = write_aclimdb_archive(tmp_path / "bad.tar.gz", files)
    with pytest.raises(DataError, match="not valid UTF-8") as error:
        read_aclimdb(archive)
    assert "aclImdb/train/neg/7_2.txt" in str(error.value)


def test_bad_file_name_in_archive(tmp_path: Path) -> None:
    files = aclimdb_files()
    files["train/pos/review.txt"] = b"no id or rating"
    with pytest.raises(DataError, match="<id>_<rating>"):
        read_aclimdb(write_aclimdb_archive(tmp_path / "bad.tar.gz", files))


def test_csv_with_custom_columns(csv_params) -> None:
    frame = pd.DataFrame(
        {"tweet": ["fire downtown", "nice day", "flood warning"], "target": [1, 0, 1], "k": "x"}
    )
    result = ingest(csv_params(frame, text_column="tweet", label_column="target"))
    table = result.labelled
    assert table["text"].tolist() == ["fire downtown", "nice day", "flood warning"]
    assert table["label"].tolist() == ["1", "0", "1"]
    assert table["id"].tolist() == ["data/1", "data/2", "data/3"]
    assert table["origin"].tolist() == ["data.csv:1", "data.csv:2", "data.csv:3"]
    assert "k" in table  # metadata columns are kept
    assert result.unlabelled.empty


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet(tmp_path: Path, fmt: str) -> None:
    frame = pd.DataFrame({"body": ["good", "bad"], "y": ["a", "b"], "uid": [10, 11]})
    path = tmp_path / f"data.{fmt}"
    if fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    params = make(
        DatasetParams, source=str(path), text_column="body", label_column="y", id_column="uid"
    )
    table = ingest(params).labelled
    assert table[["id", "text", "label"]].values.tolist() == [
        ["10", "good", "a"],
        ["11", "bad", "b"],
    ]


def test_split_column_and_unlabelled_source(tmp_path: Path, csv_params) -> None:
    extra = tmp_path / "unlabelled.csv"
    pd.DataFrame({"text": ["score me"]}).to_csv(extra, index=False)
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"], "part": ["train", "test"]})
    result = ingest(csv_params(frame, split_column="part", unlabelled_source=str(extra)))
    assert result.labelled["split"].tolist() == ["train", "test"]
    assert result.unlabelled["text"].tolist() == ["score me"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as error:
        ingest(make(DatasetParams, source=str(tmp_path / "nope.csv")))
    assert "dataset.source" in error.value.fix


def test_wrong_columns_are_named(csv_params) -> None:
    frame = pd.DataFrame({"body": ["x"], "label": ["a"]})
    with pytest.raises(DataError, match="missing column") as error:
        ingest(csv_params(frame))
    assert error.value.field == "text"
    assert "body" in str(error.value)  # says which columns the file does have
    assert "text_column" in error.value.fix


def test_missing_label_names_the_row(csv_params) -> None:
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", None, "y"]})
    with pytest.raises(DataError, match="no label") as error:
        ingest(csv_params(frame))
    assert error.value.row == 2


def test_non_utf8_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nok,a\ncaf\xe9,b\n".encode("latin-1"))
    with pytest.raises(DataError, match="not valid UTF-8") as error:
        ingest(make(DatasetParams, source=str(path)))
    assert str(error.value.row).startswith("3")
    assert "iconv" in error.value.fix


def test_sha256_mismatch(aclimdb_archive: Path) -> None:
    with pytest.raises(DataError, match="sha256"):
        ingest(make(DatasetParams, source=str(aclimdb_archive), sha256="0" * 64))


def test_unknown_format() -> None:
    with pytest.raises(DataError, match="format"):
        detect_format(Path("data.xlsx"))


@pytest.fixture
def http_server(tmp_path: Path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_source_downloaded_once_and_checked(http_server, aclimdb_archive: Path, tmp_path):
    served, base_url = http_server
    (served / "aclImdb_v1.tar.gz").write_bytes(aclimdb_archive.read_bytes())
    digest = hashlib.sha256(aclimdb_archive.read_bytes()).hexdigest()
    params = make(
        DatasetParams,
        source=f"{base_url}/aclImdb_v1.tar.gz",
        sha256=digest,
        download_dir=str(tmp_path / "dl"),
    )
    assert len(ingest(params).labelled) == 16
    (served / "aclImdb_v1.tar.gz").unlink()  # a second run must use the verified download
    assert len(ingest(params).labelled) == 16


def test_http_checksum_mismatch_leaves_no_download(http_server, aclimdb_archive, tmp_path):
    served, base_url = http_server
    (served / "data.tar.gz").write_bytes(aclimdb_archive.read_bytes())
    params = make(
        DatasetParams,
        source=f"{base_url}/data.tar.gz",
        sha256="f" * 64,
        download_dir=str(tmp_path / "dl"),
    )
    with pytest.raises(DataError, match=r"expected f+"):
        ingest(params)
    assert list((tmp_path / "dl").iterdir()) == []


def test_http_error_is_reported(http_server, tmp_path: Path) -> None:
    _, base_url = http_server
    params = make(
        DatasetParams, source=f"{base_url}/missing.csv", download_dir=str(tmp_path / "dl")
    )
    with pytest.raises(DataError, match="download failed"):
        ingest(params)


def test_a_header_only_file_says_it_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError, match="has no rows") as error:
        ingest(make(DatasetParams, source=str(path), download_dir=str(tmp_path / "dl")))
    assert str(path) in str(error.value)


def test_labels_mixing_numbers_and_words_are_refused(csv_params) -> None:
    """0/1 beside disaster/not_disaster: two datasets mixed up, not four classes."""
    frame = pd.DataFrame(
        {"text": [f"t{i}" for i in range(6)], "label": [0, 1, 0, 1, "disaster", "not_disaster"]}
    )
    with pytest.raises(DataError, match="mixes numbers and words") as error:
        ingest(csv_params(frame))
    assert (error.value.row, error.value.field) == (5, "label")
    assert "dataset.labels" in error.value.fix


def test_an_id_with_two_texts_is_refused(csv_params) -> None:
    frame = pd.DataFrame({"uid": [1, 2, 1], "text": ["a", "b", "c"], "label": ["x", "y", "x"]})
    with pytest.raises(DataError, match="name more than one text") as error:
        ingest(csv_params(frame, id_column="uid"))
    assert (error.value.row, error.value.field) == (3, "uid")
    # the same text under the same id twice is a duplicate row, not a clash (validate counts it)
    same = pd.DataFrame({"uid": [1, 2, 1], "text": ["a", "b", "a"], "label": ["x", "y", "x"]})
    assert len(ingest(csv_params(same, id_column="uid")).labelled) == 3


def test_a_jsonl_file_cut_mid_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", "la')
    with pytest.raises(DataError, match="cannot be read as jsonl") as error:
        ingest(make(DatasetParams, source=str(path), download_dir=str(tmp_path / "dl")))
    assert str(error.value.row).startswith("3 ")
