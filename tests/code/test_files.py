from __future__ import annotations

import os
import stat
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


@pytest.mark.parametrize(("umask", "mode"), [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_outputs_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """A team's shared output folder stays readable: the temporary file's 0600 is not kept."""
    old = os.umask(umask)
    try:
        write_json({"a": 1}, tmp_path / "out.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == mode
