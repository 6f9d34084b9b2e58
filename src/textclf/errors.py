"""The one exception type users see for bad input."""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Bad input, reported as: where it is (file, row or field), what is wrong, and the fix."""

    def __init__(
        self,
        path: str | Path,
        problem: str,
        fix: str,
        *,
        row: int | str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        self.row = row
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path
        if self.row is not None:
            where += f", row {self.row}"
        if self.field is not None:
            where += f", field '{self.field}'"
        return f"{where}: {self.problem}. Fix: {self.fix}"
