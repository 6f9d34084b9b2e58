"""What can go wrong, told apart by what the caller should do about it.

Every error reads "where: what is wrong. Fix: what to do". The kinds differ in who must act:

- `DataError`: bad input (a file, a row, a field of the params). Retrying cannot help, so flows
  never retry it.
- `ServiceUnavailable`: a server or store (S3, MLflow, Prefect) did not answer. Flows retry it;
  it is never mistaken for bad input or for "nothing there".
- `SetupError`: this machine's setup is in the way (a taken port, a missing tool, a stack that
  already runs). Nothing is wrong with the data, and retrying does not help either.
- `StepFailed`: a command that a step runs (dvc, git) failed; its own message is included.
- `GateFailed`: the inputs are fine, but the model does not pass a quality gate (behaviour
  tests): exit code 4, never retried; the fix is a better model or a deliberate threshold.
"""

from __future__ import annotations

from pathlib import Path


class TextclfError(Exception):
    """Base of the project's errors: where it happened, what is wrong, and the fix."""

    exit_code = 2

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

    def __reduce__(self):  # keyword-only fields survive pickling (Prefect stores task results)
        return _rebuild, (type(self), self.path, self.problem, self.fix, self.row, self.field)


def _rebuild(cls, path, problem, fix, row, field):  # type: ignore[no-untyped-def]
    return cls(path, problem, fix, row=row, field=field)


class DataError(TextclfError):
    """Bad input: a file, a row or a field is wrong. Never retried."""


class ParamsError(DataError):
    """A params field is wrong. Raised where the field is used; the entry point that read the
    params file names it with `in_file`, so the message points at the file actually read."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(PARAMS_PLACEHOLDER, problem, fix, field=field)

    def in_file(self, path: str | Path) -> DataError:
        return DataError(path, self.problem, self.fix, field=self.field)


PARAMS_PLACEHOLDER = "params"


class ServiceUnavailable(TextclfError):
    """A server or store did not answer (or answered with a server error). Worth retrying."""

    exit_code = 3


class SetupError(TextclfError):
    """This machine's setup prevents the action: nothing to retry, nothing wrong with the data."""


class StepFailed(TextclfError):
    """A command run by a step (dvc, git, a server) exited with an error."""


class GateFailed(TextclfError):
    """A trained model fails a quality gate. Not bad input, not worth retrying."""

    exit_code = 4


def retryable(error: BaseException) -> bool:
    """Whether trying again may help: an unavailable service, or an OS-level I/O failure that no
    layer below has classified yet. Bad input and setup problems never are."""
    if isinstance(error, TextclfError):
        return isinstance(error, ServiceUnavailable)
    return isinstance(error, OSError | TimeoutError) and not isinstance(
        error, FileNotFoundError | PermissionError
    )


__all__ = [
    "DataError",
    "GateFailed",
    "ParamsError",
    "ServiceUnavailable",
    "SetupError",
    "StepFailed",
    "TextclfError",
    "retryable",
]
