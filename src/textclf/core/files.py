"""Local files: atomic writes (temp file beside the target, then rename) and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TEMPORARY_SUFFIX = ".textclf-tmp"


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds.

    Readers never see a half-written file, and a failure leaves the old file (or nothing) behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file 0600; the finished file gets what a plain open() would give.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left below `folder` (only a process killed
    with SIGKILL leaves one). Call it only where one writer runs at a time."""
    removed = sorted(Path(folder).rglob(f".*{TEMPORARY_SUFFIX}")) if Path(folder).is_dir() else []
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def write_json(data: Any, target: str | Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_text(text: str, target: str | Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_parquet(frame: pd.DataFrame, target: str | Path) -> None:
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(frame: pd.DataFrame, target: str | Path) -> None:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes; md5 matches the hash DVC 3 records for a file output."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
