"""Progress of long work (ingest, fitting, evaluation, batch scoring).

On a terminal: a tqdm bar (done, rate, time left). Anywhere else (`dvc repro` in CI, a Prefect
flow run, a log file): one INFO line under the `textclf` logger every `interval` seconds and one
at the end, so Prefect's run log (which receives that logger's records) shows a long batch
moving. TEXTCLF_PROGRESS=off silences both; TEXTCLF_PROGRESS=log forces log lines.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from types import TracebackType
from typing import Any, TextIO

log = logging.getLogger("textclf.progress")
INTERVAL_SECONDS = 30.0
MODE_ENV = "TEXTCLF_PROGRESS"  # auto (default) | bar | log | off


class Progress:
    """`with Progress("scoring x.csv", total=rows) as progress: progress.update(n)`."""

    def __init__(
        self,
        description: str,
        total: int | None = None,
        unit: str = "rows",
        interval: float = INTERVAL_SECONDS,
        stream: TextIO | None = None,
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.interval = interval
        self.done = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Any = None
        mode = _mode(stream or sys.stderr)
        self._log_lines = mode == "log"
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=description,
                unit=f" {unit}",
                unit_scale=total is None or total >= 10_000,  # 1.2M rows; 3/4 steps
                file=stream or sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )

    def update(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif self._log_lines and time.monotonic() - self._last_line >= self.interval:
            self._last_line = time.monotonic()
            log.info("%s", self.line())

    def line(self) -> str:
        """`<description>: 120,000/1,000,000 rows (12%), 2,310 rows/s, about 6 min left`."""
        seconds = max(time.monotonic() - self._started, 1e-9)
        rate = self.done / seconds
        done = f"{self.done:,}" + (f"/{self.total:,}" if self.total else "")
        text = f"{self.description}: {done} {self.unit}"
        if self.total:
            text += f" ({self.done / self.total:.0%})"
        text += f", {rate:,.0f} {self.unit}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        elif self.total is None or self.done >= self.total:
            text += f", {_duration(seconds)} in all"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._log_lines:
            log.info("%s", self.line())
            self._log_lines = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _mode(stream: TextIO) -> str:
    mode = os.environ.get(MODE_ENV, "auto")
    if mode in ("bar", "log", "off"):
        return mode
    return "bar" if getattr(stream, "isatty", lambda: False)() else "log"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
