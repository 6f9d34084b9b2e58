"""One retry policy for every client of the project's services: S3 (boto3, s3fs and DVC read
the AWS variables) and the MLflow server (its HTTP client reads the MLflow ones).

botocore's default (legacy mode, five attempts with back-off, s3fs retrying on top) keeps a
`dvc push` to a dead server going for many minutes; with these a dead endpoint fails in about ten
seconds, and the flows retry whole tasks on top (`errors.retryable`). The entry points (the CLI,
the flows) apply it to their process with textclf.core.environment, so the commands they start
inherit it; the settings files of every environment (`.stack/env`) carry it too.
"""

from __future__ import annotations

ATTEMPTS = 2
MODE = "standard"
HTTP_TIMEOUT_SECONDS = 30


def client_env() -> dict[str, str]:
    return {
        "AWS_RETRY_MODE": MODE,
        "AWS_MAX_ATTEMPTS": str(ATTEMPTS),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(ATTEMPTS),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(HTTP_TIMEOUT_SECONDS),
    }


def boto_config() -> dict[str, dict[str, object]]:
    """The same policy for a client built in code (botocore's `Config(retries=...)`)."""
    return {"retries": {"mode": MODE, "max_attempts": ATTEMPTS}}
