"""Long work reports progress: a tqdm bar on a terminal, periodic log lines elsewhere."""

from __future__ import annotations

import io
import logging

from textclf.core.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_when_not_on_a_terminal(caplog, monkeypatch) -> None:
    monkeypatch.delenv("TEXTCLF_PROGRESS", raising=False)
    caplog.set_level(logging.INFO, logger="textclf.progress")
    with Progress("scoring x.csv", total=1000, interval=0.0, stream=io.StringIO()) as progress:
        progress.update(250)
        progress.update(750)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("scoring x.csv: 250/1,000 rows (25%), ")
    assert "rows/s, about" in lines[0] and lines[0].endswith(" left")
    assert lines[-1].startswith("scoring x.csv: 1,000/1,000 rows (100%)")
    assert lines[-1].endswith(" in all")


class Records(logging.Handler):
    """Records reaching the progress logger itself: a serial run's earlier tests (Prefect's
    logging setup) leave handlers behind that make root-level capture see a record twice."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_lines_are_spaced_by_the_interval(monkeypatch) -> None:
    monkeypatch.delenv("TEXTCLF_PROGRESS", raising=False)
    logger = logging.getLogger("textclf.progress")
    records = Records()
    monkeypatch.setattr(logger, "level", logging.INFO)
    logger.addHandler(records)
    try:
        with Progress("x", interval=3600, stream=io.StringIO()) as progress:
            for _ in range(100):
                progress.update(10)
    finally:
        logger.removeHandler(records)
    # this Progress's lines only: another test's progress thread may still log
    own = [message for message in records.messages if message.startswith("x: ")]
    assert len(own) == 1  # only the closing line
    assert own[0].startswith("x: 1,000 rows, ")


def test_a_bar_on_a_terminal_and_no_log_lines(caplog, monkeypatch) -> None:
    monkeypatch.delenv("TEXTCLF_PROGRESS", raising=False)
    caplog.set_level(logging.INFO, logger="textclf.progress")
    terminal = Terminal()
    with Progress("train", total=4, unit="steps", stream=terminal) as progress:
        progress.update(2)
    shown = terminal.getvalue()
    assert "train:" in shown and "/4 [" in shown and "steps/s" in shown
    assert caplog.records == []


def test_switched_off(caplog, monkeypatch) -> None:
    monkeypatch.setenv("TEXTCLF_PROGRESS", "off")
    caplog.set_level(logging.INFO, logger="textclf.progress")
    terminal = Terminal()
    with Progress("x", interval=0.0, stream=terminal) as progress:
        progress.update(5)
    assert terminal.getvalue() == "" and caplog.records == []
