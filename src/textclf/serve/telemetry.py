"""Prometheus metrics of the service: requests by endpoint and status, latency, texts scored and
the model version served. With several uvicorn workers each is a process of its own, so the
metrics go through prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by
`textclf serve` before the workers start) and /metrics adds up every worker's."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("textclf_requests", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "textclf_request_seconds",
    "Seconds from request to response",
    ["endpoint"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
TEXTS = Counter("textclf_texts_scored", "Texts scored", ["model_version"])
SHED = Counter("textclf_requests_shed", "/predict requests answered 503 busy (serve.max_in_flight)")
MODEL = Gauge(
    "textclf_model_info",
    "1 for the model version served",
    ["name", "version"],
    multiprocess_mode="livemax",
)


def serving(name: str, version: str, previous: tuple[str, str] | None) -> None:
    if previous is not None and previous != (name, version):
        MODEL.labels(*previous).set(0)
    MODEL.labels(name, version).set(1)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, of every worker when there are several."""
    if os.environ.get(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
