"""Errors say what happened: bad input is never retried, an unavailable service is."""

from __future__ import annotations

import pickle

import pytest

from textclf.core.errors import (
    DataError,
    ParamsError,
    ServiceUnavailable,
    SetupError,
    StepFailed,
    retryable,
)
from textclf.core.storage import storage_errors


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DataError("f.csv", "bad", "fix"), False),
        (ParamsError("train.seed", "bad", "fix"), False),
        (SetupError("127.0.0.1:9000", "port taken", "fix"), False),
        (StepFailed("dvc repro", "failed", "fix"), False),
        (ServiceUnavailable("http://x", "down", "fix"), True),
        (ConnectionResetError("reset"), True),
        (TimeoutError("slow"), True),
        (FileNotFoundError("gone"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_unavailable_services_are_retried(error: BaseException, expected: bool) -> None:
    assert retryable(error) is expected


def test_errors_survive_pickling_with_every_field() -> None:
    """Prefect stores a failed task's exception; it must come back whole."""
    error = DataError("f.csv", "no label", "label it", row=3, field="label")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is DataError and str(again) == str(error)
    assert (again.row, again.field) == (3, "label")


def test_params_errors_name_the_file_they_came_from() -> None:
    error = ParamsError("train.seed", "train.seed is 'x'", "set it to int")
    assert str(error.in_file("exp/params.yaml")) == (
        "exp/params.yaml, field 'train.seed': train.seed is 'x'. Fix: set it to int"
    )


def test_storage_errors_tell_missing_from_refused_from_unavailable() -> None:
    with pytest.raises(FileNotFoundError), storage_errors("s3://b/k"):
        raise FileNotFoundError("s3://b/k")
    with pytest.raises(SetupError, match="access denied"), storage_errors("s3://b/k"):
        raise PermissionError("403")
    with pytest.raises(ServiceUnavailable, match="did not answer"), storage_errors("s3://b/k"):
        raise ConnectionRefusedError("refused")
    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(ServiceUnavailable), storage_errors("s3://b/k"):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
