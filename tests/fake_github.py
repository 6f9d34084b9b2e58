"""A loopback stand-in for GitHub's REST API that checks the pull-request call as GitHub
documents it (POST /repos/{owner}/{repo}/pulls: a bearer token, the JSON media type, the API
version header, and the title/head/base/body fields)."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import ClassVar


class FakeGitHub(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    answer = 201

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        problems = []
        if self.path != "/repos/acme/textclf/pulls":
            problems.append(f"path {self.path}")
        if self.headers["Authorization"] != "Bearer secret-token":
            problems.append("token")
        if self.headers["Accept"] != "application/vnd.github+json":
            problems.append("accept")
        if self.headers["X-GitHub-Api-Version"] != "2022-11-28":
            problems.append("version")
        if set(body) != {"title", "head", "base", "body"}:
            problems.append(f"fields {sorted(body)}")
        FakeGitHub.received.append(body)
        status = 422 if problems else FakeGitHub.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        answer = (
            {"message": "Validation Failed", "errors": problems}
            if status >= 400
            else {"number": 7, "html_url": "https://github.com/acme/textclf/pull/7"}
        )
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving() -> Iterator[str]:
    """Serve FakeGitHub on a free loopback port; yields its API URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeGitHub.received, FakeGitHub.answer = [], 201
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
