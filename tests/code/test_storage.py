"""One reader for tables and one way to publish outputs, the same on local paths and on S3 (a real
S3 API server, moto's, on loopback)."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pandas as pd
import pytest

from tests.conftest import free_port
from textclf.core import storage
from textclf.core.errors import DataError, ServiceUnavailable
from textclf.core.tables import read_chunks, read_head, read_table

FRAME = pd.DataFrame({"id": [1, 2, 3, 4, 5], "text": ["a", "b", None, "d", "é"]})


def write_all(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"t.{fmt}" for fmt in ("csv", "jsonl", "parquet")}
    FRAME.to_csv(paths["csv"], index=False)
    FRAME.to_json(paths["jsonl"], orient="records", lines=True, force_ascii=False)
    FRAME.to_parquet(paths["parquet"])
    return paths


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_whole_and_chunked_reads_agree(tmp_path: Path, fmt: str) -> None:
    path = str(write_all(tmp_path)[fmt])
    whole = read_table(path)
    chunks = list(read_chunks(path, 2))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    joined = pd.concat(chunks, ignore_index=True)
    assert whole["text"].fillna("").astype(str).tolist() == ["a", "b", "", "d", "é"]
    assert joined["text"].fillna("").astype(str).tolist() == ["a", "b", "", "d", "é"]
    assert whole["id"].astype(str).tolist() == ["1", "2", "3", "4", "5"]
    assert read_head(path, 2)["id"].astype(str).tolist() == ["1", "2"]


def test_bad_tables_name_the_file_the_row_and_the_fix(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text\nok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError) as error:
        read_table(str(latin))
    assert str(error.value).startswith(f"{latin}, row 3 (line 3 of the file): bytes at offset")
    assert "iconv" in error.value.fix
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"broken\.parquet: cannot be read as parquet"):
        read_table(str(broken))
    with pytest.raises(DataError, match="cannot tell a table format"):
        read_table(str(tmp_path / "notes.txt"))


def test_published_writes_beside_the_target_and_leaves_nothing_on_failure(tmp_path) -> None:
    target = tmp_path / "out" / "scored.parquet"
    with storage.published(str(target)) as local:
        assert local.parent == target.parent  # a rename, never across filesystems
        local.write_text("whole")
    assert target.read_text() == "whole"
    with pytest.raises(RuntimeError), storage.published(str(target)) as local:
        local.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "whole"
    assert sorted(p.name for p in target.parent.iterdir()) == ["scored.parquet"]


@pytest.fixture(scope="module")
def s3():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    endpoint = f"http://127.0.0.1:{server._port}"
    saved = {
        key: os.environ.get(key)
        for key in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    os.environ.update(
        AWS_ENDPOINT_URL_S3=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="tables")
    yield client
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_the_same_functions_on_s3(s3, tmp_path: Path) -> None:
    for fmt, path in write_all(tmp_path).items():
        s3.upload_file(str(path), "tables", f"in/day1/t.{fmt}")
    found = storage.find_files("s3://tables/in")
    assert found == [f"s3://tables/in/day1/t.{fmt}" for fmt in ("csv", "jsonl", "parquet")]
    assert storage.relative(found[0], "s3://tables/in") == "day1/t.csv"
    for path in found:
        assert [len(chunk) for chunk in read_chunks(path, 3)] == [3, 2]
    etag = s3.head_object(Bucket="tables", Key="in/day1/t.csv")["ETag"].strip('"')
    assert storage.fingerprint(found[0]) == etag

    with storage.published("s3://tables/out/report.json") as local:
        local.write_text('{"whole": true}')
        assert s3.list_objects_v2(Bucket="tables", Prefix="out/")["KeyCount"] == 0
    assert storage.read_json("s3://tables/out/report.json") == {"whole": True}
    assert not storage.exists("s3://tables/out/nothing.json")


def test_a_dead_store_is_unavailable_not_missing(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(ServiceUnavailable, match="the store did not answer"):
        storage.exists("s3://tables/in")


def test_a_parquet_folder_reads_as_one_table_in_part_order(tmp_path: Path) -> None:
    """What Spark writes: part files (named in row order), `_SUCCESS`, hidden checksums."""
    folder = tmp_path / "scored.parquet"
    folder.mkdir()
    for part, rows in enumerate([["a", "b"], ["c"], ["d", "e", "f"]]):
        pd.DataFrame({"id": rows}).to_parquet(folder / f"part-{part:05d}-x.snappy.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000-x.snappy.parquet.crc").write_bytes(b"\x00crc")
    assert read_table(str(folder))["id"].tolist() == list("abcdef")
    assert [chunk["id"].tolist() for chunk in read_chunks(str(folder), 2)] == [
        ["a", "b"],
        ["c"],
        ["d", "e"],
        ["f"],
    ]


def test_replace_folder_swaps_a_finished_folder_in(tmp_path: Path) -> None:
    target, staging = tmp_path / "out" / "a.csv.parquet", tmp_path / "_staging" / "a.csv.parquet"
    target.parent.mkdir()
    target.write_bytes(b"scored by the single-machine path")  # a file, now a folder
    staging.mkdir(parents=True)
    (staging / "part-0.parquet").write_bytes(b"new")
    storage.replace_folder(str(staging), str(target))
    assert sorted(p.name for p in target.iterdir()) == ["part-0.parquet"]
    assert not staging.exists()
