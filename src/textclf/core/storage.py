"""Locations: a local path or an `s3://` URL, reached through one fsspec filesystem.

One function per concern: `filesystem` (S3 honours AWS_ENDPOINT_URL_S3 for the local stack and
the project's retry policy), `storage_errors` (a store that does not answer becomes
ServiceUnavailable, never "nothing there"), and `published` (an output appears whole or not at
all: a rename beside the target locally, a single upload on S3).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textclf.core import retry
from textclf.core.errors import ServiceUnavailable, SetupError
from textclf.core.files import atomic_path, file_digest

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem


def is_remote(location: str) -> bool:
    return location.startswith("s3://")


def filesystem(location: str) -> AbstractFileSystem:
    import fsspec

    if is_remote(location):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        client_kwargs = {"endpoint_url": endpoint} if endpoint else {}
        return fsspec.filesystem(
            "s3",
            skip_instance_cache=True,
            client_kwargs=client_kwargs,
            config_kwargs=retry.boto_config(),
        )
    return fsspec.filesystem("file")


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [OSError, TimeoutError]
    with contextlib.suppress(ImportError):
        from botocore.exceptions import BotoCoreError

        kinds.append(BotoCoreError)
    return tuple(kinds)


@contextlib.contextmanager
def storage_errors(location: str) -> Iterator[None]:
    """Name what failed: a missing path stays FileNotFoundError (the caller decides what that
    means), a refused permission is a SetupError, anything else a ServiceUnavailable."""
    try:
        yield
    except FileNotFoundError:
        raise
    except PermissionError as error:
        raise SetupError(
            location, f"access denied ({error})", "check the credentials and the bucket policy"
        ) from error
    except _unavailable_errors() as error:
        if type(error).__name__ == "NoCredentialsError":
            raise SetupError(
                location, "no AWS credentials here", "configure them (or load .stack/env)"
            ) from error
        raise ServiceUnavailable(
            location,
            f"the store did not answer ({type(error).__name__}: {error})",
            "check that the store is up and reachable; the run can be repeated safely",
        ) from error


def join(location: str, *parts: str) -> str:
    return "/".join([location.rstrip("/"), *(part.strip("/") for part in parts)])


def relative(path: str, location: str) -> str:
    """`path` below `location`, whatever the scheme prefix fsspec left on either."""
    root = location.removeprefix("s3://").rstrip("/")
    return path.removeprefix("s3://").removeprefix(root).lstrip("/")


def exists(location: str) -> bool:
    with storage_errors(location):
        return bool(filesystem(location).exists(location))


def find_files(location: str) -> list[str]:
    """Every file below a folder (or the location itself, if it is a file), sorted; paths carry
    their scheme (`s3://...`) so they can be handed back to these functions."""
    fs = filesystem(location)
    with storage_errors(location):
        if fs.isfile(location):
            return [location]
        found = fs.find(location)
    prefix = "s3://" if is_remote(location) else ""
    return sorted(prefix + path.removeprefix("s3://") for path in found)


def fingerprint(location: str) -> str:
    """S3's ETag (the MD5 of a single-part object), or the MD5 of a local file."""
    if not is_remote(location):
        return file_digest(location)
    with storage_errors(location):
        info = filesystem(location).info(location)
    return str(info.get("ETag", "")).strip('"') or str(info.get("size"))


def modified_at(location: str) -> str:
    """When a file was last written (S3's LastModified, a local file's mtime), UTC ISO seconds:
    the same file gives the same value however often it is read."""
    with storage_errors(location):
        stamp = filesystem(location).modified(location)
    if stamp.tzinfo is None:  # fsspec's local filesystem answers in UTC without saying so
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat(timespec="seconds")


def read_json(location: str) -> Any:
    with storage_errors(location), filesystem(location).open(location, "r") as handle:
        return json.load(handle)


@contextlib.contextmanager
def published(target: str) -> Iterator[Path]:
    """Yield a local path to write; when the block succeeds, make it `target` in one step.

    Locally the temporary file sits beside the target (a rename never crosses filesystems);
    on S3 it is uploaded with one request (or one multipart upload), which S3 makes visible
    whole or not at all.
    """
    if not is_remote(target):
        with atomic_path(target) as tmp:
            yield tmp
        return
    with tempfile.TemporaryDirectory(prefix="textclf-publish-") as folder:
        local = Path(folder) / Path(target).name
        yield local
        with storage_errors(target):
            filesystem(target).put_file(str(local), target)


def publish_json(data: Any, target: str) -> None:
    with published(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))


def remove(location: str) -> None:
    """Delete a file or a folder and everything below it."""
    with storage_errors(location):
        filesystem(location).rm(location, recursive=True)


def replace_folder(source: str, target: str) -> None:
    """Move a finished folder (or file) onto `target`, replacing what was there.

    Locally a rename: `target` changes in one step once the old one is gone. S3 has no rename:
    the objects are copied, then the source deleted, so a reader of `target` itself may see a
    partial folder while it moves; that is why readers go by the batch manifest, which names an
    output only after it is in place.
    """
    fs = filesystem(target)
    with storage_errors(target):
        if fs.exists(target):
            fs.rm(target, recursive=True)
        if not is_remote(target):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            return
        fs.copy(source, target, recursive=True)
        fs.rm(source, recursive=True)


def download(location: str, local: Path) -> None:
    with storage_errors(location):
        filesystem(location).get(location, str(local))


def upload(local: Path, location: str) -> None:
    with storage_errors(location):
        filesystem(location).put_file(str(local), location)
