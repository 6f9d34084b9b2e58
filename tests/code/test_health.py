"""Waiting for a server: healthy when it answers 200, a clear ServiceUnavailable otherwise."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from tests.conftest import free_port
from textclf.core.errors import ServiceUnavailable
from textclf.core.health import health_problem, wait_until_healthy


class SlowStart(http.server.BaseHTTPRequestHandler):
    """Answers 503 to its first requests, then 200: a server still starting up."""

    calls = 0

    def do_GET(self) -> None:
        SlowStart.calls += 1
        self.send_response(200 if SlowStart.calls > 3 else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowStart)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    SlowStart.calls = 0
    yield f"http://127.0.0.1:{httpd.server_address[1]}/health"
    httpd.shutdown()


def test_waits_until_the_server_answers(server: str) -> None:
    assert health_problem(server) == "answered HTTP 503"
    wait_until_healthy(server, timeout=10, interval=0.05)
    assert health_problem(server) is None and SlowStart.calls >= 4


def test_a_server_that_never_answers_times_out_with_its_address() -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as error:
        wait_until_healthy(url, timeout=0.5, name="MLflow server", fix="start it", interval=0.05)
    assert time.monotonic() - started < 5
    assert str(error.value).startswith(f"{url}: the MLflow server is not reachable")
    assert error.value.fix == "start it"


def test_a_process_that_died_is_reported_at_once() -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    with pytest.raises(ServiceUnavailable, match="exited before it answered"):
        wait_until_healthy(url, timeout=60, name="s3 server", still_starting=lambda: False)
