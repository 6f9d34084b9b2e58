"""checkov on infra/terraform, from its own locked environment (`make infra-check`)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration  # builds .venv-checkov the first time


def test_checkov_reports_no_failed_check_and_every_skip_has_a_reason() -> None:
    result = subprocess.run(
        ["make", "-s", "infra-check", "CHECKOV_ARGS=-o json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    terraform = next(report for report in reports if report["check_type"] == "terraform")
    summary = terraform["summary"]
    failed = [(c["check_id"], c["resource"]) for c in terraform["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 300  # every module was scanned, not an empty directory
    for check in terraform["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason) >= 20, (check["check_id"], check["resource"], reason)
