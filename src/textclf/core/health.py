"""Wait until a server answers its health check; one function for every server the project
starts or talks to (the local stack's servers, the MLflow tracking server, the test servers)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from textclf.core.errors import ServiceUnavailable


def health_problem(url: str, timeout: float = 2.0) -> str | None:
    """None when `url` answers HTTP 200, else what went wrong, in words."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if response.status == 200 else f"answered HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"is not reachable ({getattr(error, 'reason', error)})"


def wait_until_healthy(
    url: str,
    timeout: float,
    *,
    name: str = "server",
    fix: str = "start it, or check the address",
    still_starting: Callable[[], bool] | None = None,
    interval: float = 0.3,
) -> None:
    """Poll `url` until it answers 200; raise ServiceUnavailable after `timeout` seconds, or as
    soon as `still_starting()` says the process behind it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        problem = health_problem(url, timeout=min(2.0, max(timeout, 0.1)))
        if problem is None:
            return
        if still_starting is not None and not still_starting():
            raise ServiceUnavailable(url, f"the {name} exited before it answered", fix)
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(url, f"the {name} {problem} after {timeout:.0f} s", fix)
        time.sleep(interval)


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port (a server about to start there would
    fail to bind)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0
