"""The pull-request call, against a loopback server that checks the request as GitHub's REST API
documents it (POST /repos/{owner}/{repo}/pulls)."""

from __future__ import annotations

import pytest

from tests.fake_github import FakeGitHub, serving
from textclf.core.errors import DataError, SetupError
from textclf.retrain.github import open_pull_request, repository_from_remote


@pytest.fixture
def api():
    with serving() as url:
        yield url


def test_opens_a_pull_request_as_documented(api: str, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "secret-token")
    opened = open_pull_request(api, "acme/textclf", "retrain/x", "main", "Retrain", "report")
    assert opened is not None and (opened.number, opened.url) == (
        7,
        "https://github.com/acme/textclf/pull/7",
    )
    assert FakeGitHub.received == [
        {"title": "Retrain", "head": "retrain/x", "base": "main", "body": "report"}
    ]


def test_no_token_sends_nothing(api: str, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert open_pull_request(api, "acme/textclf", "retrain/x", "main", "t", "b") is None
    assert FakeGitHub.received == []


def test_refusals_are_named(api: str, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    with pytest.raises(DataError, match="HTTP 422"):
        open_pull_request(api, "acme/textclf", "retrain/x", "main", "t", "b")
    monkeypatch.setenv("GITHUB_TOKEN", "secret-token")
    FakeGitHub.answer = 403
    with pytest.raises(SetupError, match="pull-requests: write"):
        open_pull_request(api, "acme/textclf", "retrain/x", "main", "t", "b")


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/acme/textclf.git", "acme/textclf"),
        ("git@github.com:acme/textclf.git", "acme/textclf"),
        ("https://github.com/acme/textclf", "acme/textclf"),
        ("/srv/git/textclf.git", None),
    ],
)
def test_repository_from_remote(url: str, repository: str | None) -> None:
    assert repository_from_remote(url) == repository
