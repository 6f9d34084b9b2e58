"""Where a benchmark's numbers go: `bench/results/<name>.json` and `<name>.md`, written only when
the benchmark finished, with the machine, the date, the command and the versions that produced
them. The documentation includes the `.md` files (docs/performance.md), so no number in it is
copied by hand: re-run the benchmark and the page follows.

    with recorded("vectorizer"):
        main()          # everything it prints is recorded, and still printed
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("textclf", "scikit-learn", "numpy", "scipy", "pandas", "polars", "mlflow", "dvc")


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory, "os": platform.platform()}


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


class _Tee(io.TextIOBase):
    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream, self.seen = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.seen.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def recorded(name: str) -> Iterator[None]:
    """Record what the block prints as the results of benchmark `name` (nothing is written if
    it fails)."""
    tee, started = _Tee(sys.stdout), time.perf_counter()
    with contextlib.redirect_stdout(tee):
        yield
    record = {
        "bench": name,
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "versions": versions(),
        "output": tee.seen.getvalue().rstrip("\n").splitlines(),
    }
    write(name, record)


def write(name: str, record: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    box = record["machine"]
    packages = ", ".join(f"{key} {value}" for key, value in record["versions"].items())
    markdown = (
        f"`{record['command']}`, {record['date'][:10]}, {record['seconds']:,} s on "
        f"{box['cpu']} ({box['cores']} cores, {box['memory_gib']} GiB); {packages}\n\n"
        "```\n" + "\n".join(record["output"]) + "\n```\n"
    )
    for suffix, text in ((".json", json.dumps(record, indent=2) + "\n"), (".md", markdown)):
        target = RESULTS / f"{name}{suffix}"
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text)
        partial.replace(target)
