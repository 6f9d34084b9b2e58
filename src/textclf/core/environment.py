"""The environment the project's entry points give themselves and every command they start.

- the retry policy of the project's service clients (textclf.core.retry);
- no usage telemetry: MLflow 3 and Evidently send usage data to outside hosts unless told not
  to, Prefect's server sends analytics, Label Studio collects them. All are off here, and a
  user opts in by setting the variable in their own environment (an explicit value always
  wins: these are defaults);
- no artifact download bars from MLflow (a 64-step bar per model load fills the logs).
"""

from __future__ import annotations

import os

from textclf.core import retry

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",  # MLflow and Evidently honour it
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "COLLECT_ANALYTICS": "false",  # Label Studio
}
QUIET = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def defaults() -> dict[str, str]:
    """What `apply_to_process` sets, also written into the settings files (`.stack/env`)."""
    return {**retry.client_env(), **TELEMETRY_OFF, **QUIET}


def apply_to_process() -> None:
    """Use the defaults in this process and its children, unless the environment says otherwise."""
    for key, value in defaults().items():
        os.environ.setdefault(key, value)
