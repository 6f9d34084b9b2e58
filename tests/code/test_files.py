from __future__ import annotations

from pathlib import Path

import pytest

from textclf.core.files import atomic_path, file_digest, read_json, write_json


def test_atomic_path_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    write_json({"a": 1}, target)
    assert read_json(target) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_atomic_path_keeps_old_file_and_no_temp_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_file_digest_md5(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    assert file_digest(path) == "5d41402abc4b2a76b9719d911017c592"
