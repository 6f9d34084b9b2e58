"""Open a pull request on GitHub with one REST call (`POST /repos/{owner}/{repo}/pulls`).

The API URL is configurable (GitHub Enterprise, or a loopback server in tests); the token comes
from the environment (`GITHUB_TOKEN`; on AWS from Secrets Manager, see infra/terraform). With no
token, nothing is sent and the caller says that no pull request was opened.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from textclf.core.errors import DataError, ServiceUnavailable, SetupError

TOKEN_ENV = "GITHUB_TOKEN"
API_VERSION = "2022-11-28"
_REMOTE = re.compile(r"github\.com[:/](?P<repository>[^/]+/[^/]+?)(?:\.git)?/?$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str


def repository_from_remote(url: str) -> str | None:
    """`owner/name` of a GitHub remote URL (https or ssh), or None for any other remote."""
    match = _REMOTE.search(url)
    return match["repository"] if match else None


def open_pull_request(
    api_url: str, repository: str, head: str, base: str, title: str, body: str
) -> PullRequest | None:
    """Open a pull request of `head` into `base`; None when no token is configured."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        log.warning("%s is not set: no pull request opened for %s", TOKEN_ENV, head)
        return None
    url = f"{api_url.rstrip('/')}/repos/{repository}/pulls"
    request = urllib.request.Request(
        url,
        data=json.dumps({"title": title, "head": head, "base": base, "body": body}).encode(),
        method="POST",
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": API_VERSION,
            "Content-Type": "application/json",
            "User-Agent": "textclf-retrain",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        if error.code >= 500:
            raise ServiceUnavailable(url, f"GitHub answered HTTP {error.code}", "retry") from error
        if error.code in (401, 403):
            raise SetupError(
                url,
                f"GitHub refused the token (HTTP {error.code}: {detail})",
                f"give {TOKEN_ENV} the pull-requests: write permission on {repository}",
            ) from error
        raise DataError(
            url,
            f"GitHub refused the pull request (HTTP {error.code}: {detail})",
            f"check that {head} was pushed and that {repository} is right",
        ) from error
    except (urllib.error.URLError, OSError) as error:
        raise ServiceUnavailable(url, f"GitHub did not answer ({error})", "retry") from error
    log.info("opened pull request #%s: %s", answer["number"], answer["html_url"])
    return PullRequest(int(answer["number"]), str(answer["html_url"]))
