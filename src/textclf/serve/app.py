"""The online prediction service: FastAPI over the champion model.

    textclf serve                      # params.yaml's serve section: the registry's champion
    textclf serve --model models/model.skops

`POST /predict` scores one text or a list with the project's one scoring function (the same
labels, confidences and probabilities as batch scoring, `uncertain` under
predict.min_confidence); `/health`, `/ready`, `/model`, `/metrics` (Prometheus) and `/docs`
(OpenAPI) describe the service; `/` is a page to try it. Limits come from params (serve.*) and
are named in the 4xx that enforces them; clients never see a stack trace.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textclf.core.errors import DataError
from textclf.core.params import ServeParams
from textclf.ml.params import load_params
from textclf.registry.versions import CHAMPION, alias_uri
from textclf.serve import telemetry
from textclf.serve.champion import Champion, Serving

log = logging.getLogger(__name__)
# `textclf serve` hands its settings to every uvicorn worker through these.
PARAMS_ENV, ROOT_ENV, MODEL_ENV = "TEXTCLF_PARAMS", "TEXTCLF_ROOT", "TEXTCLF_SERVE_MODEL"
ENDPOINTS = ("/predict", "/health", "/ready", "/model", "/metrics", "/", "/docs", "/openapi.json")


@dataclass(frozen=True)
class ServiceConfig:
    source: str  # what Champion loads: a models:/ alias or version URI, runs:/, or a file
    limits: ServeParams
    min_confidence: float
    root: Path = Path(".")

    @classmethod
    def from_params(cls, params_path: Path, root: Path, model: str | None = None) -> ServiceConfig:
        params = load_params(params_path)
        choice = model or params.serve.model
        source = alias_uri(params.registry.model_name, CHAMPION) if choice == "champion" else choice
        if not source.startswith(("models:/", "runs:/")) and not (root / source).is_file():
            raise DataError(
                root / source,
                "no such model file",
                "train one (dvc repro), or serve a registry alias: --model champion",
            )
        return cls(source, params.serve, params.predict.min_confidence, root)

    @property
    def follows_registry(self) -> bool:
        return self.source.startswith(("models:/", "runs:/"))

    @classmethod
    def from_env(cls) -> ServiceConfig:
        root = Path(os.environ.get(ROOT_ENV, "."))
        params = Path(os.environ.get(PARAMS_ENV, root / "params.yaml"))
        return cls.from_params(params, root, os.environ.get(MODEL_ENV) or None)


class PredictRequest(BaseModel):
    """One text (`text`) or several (`texts`), raw: normalisation is part of the model."""

    text: str | None = Field(None, examples=["A wonderful film, I loved every minute."])
    texts: list[str] | None = Field(None, examples=[["Loved it.", "A dull, boring mess."]])

    @model_validator(mode="after")
    def one_of_text_or_texts(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give either `text` (one string) or `texts` (a list), not both")
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class Prediction(BaseModel):
    label: str = Field(description="the class, or `uncertain` under predict.min_confidence")
    confidence: float
    probabilities: dict[str, float]


class ModelRef(BaseModel):
    name: str
    version: str


class PredictResponse(BaseModel):
    model: ModelRef
    predictions: list[Prediction]


class ErrorResponse(BaseModel):
    error: str
    limit: str | None = None


class ServiceError(Exception):
    def __init__(self, status: int, error: str, limit: str | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.limit = status, error, limit


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    """The app; without `config`, settings come from the environment `textclf serve` sets (so
    every uvicorn worker process builds the same app)."""
    config = config or ServiceConfig.from_env()
    limits = config.limits

    def model_changed(old: Serving | None, new: Serving) -> None:
        previous = (old.model.name, old.model.version) if old else None
        telemetry.serving(new.model.name, new.model.version, previous)

    champion = Champion(config.source, config.root, limits.poll_seconds, model_changed)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        champion.start()
        yield
        champion.stop()

    app = FastAPI(
        title="textclf",
        summary="Text classification with the registry's champion model",
        lifespan=lifespan,
    )
    app.state.champion = champion
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    # Added last, so it runs first: a shed request costs no body read and no thread.
    app.add_middleware(LoadShedder, max_in_flight=limits.max_in_flight)
    errors = {
        413: {"model": ErrorResponse, "description": "body over serve.max_body_bytes"},
        422: {"model": ErrorResponse, "description": "not a valid request, or over a limit"},
        503: {
            "model": ErrorResponse,
            "description": "no model loaded yet, or busy (over serve.max_in_flight; Retry-After)",
        },
    }

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
        started = time.perf_counter()
        response = await call_next(request)
        path = request.url.path if request.url.path in ENDPOINTS else "other"
        telemetry.LATENCY.labels(path).observe(time.perf_counter() - started)
        telemetry.REQUESTS.labels(path, request.method, str(response.status_code)).inc()
        return response

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return JSONResponse({"error": error.error, "limit": error.limit}, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error; see the service's log"}, status_code=500)

    def serving() -> Serving:
        current = champion.serving  # one read: the whole request uses this model
        if current is None:
            problem = champion.registry.problem or "the model is still loading"
            raise ServiceError(503, f"no model loaded yet: {problem}")
        return current

    # `async`: scoring runs on the event loop's own thread. It is short and CPU-bound, and a
    # thread pool would only add a GIL hand-off per request; workers are processes, one a core.
    @app.post("/predict", response_model=PredictResponse, responses=errors)
    async def predict(request: PredictRequest) -> dict[str, Any]:
        """Label, confidence and one probability per class for each text, and the model that
        answered."""
        texts = request.all_texts()
        if not texts:
            raise ServiceError(422, "`texts` is empty: give at least one text")
        if len(texts) > limits.max_texts:
            raise ServiceError(
                422,
                f"{len(texts)} texts in one request; the limit is {limits.max_texts}",
                "serve.max_texts",
            )
        for index, text in enumerate(texts):
            if len(text) > limits.max_text_chars:
                raise ServiceError(
                    422,
                    f"text {index} has {len(text)} characters; the limit is "
                    f"{limits.max_text_chars}",
                    "serve.max_text_chars",
                )
        current = serving()
        scores = current.model.score(texts, config.min_confidence)
        telemetry.TEXTS.labels(current.model.version).inc(len(texts))
        return {
            "model": {"name": current.model.name, "version": current.model.version},
            "predictions": scores.records(),
        }

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", responses={503: {"description": "no model loaded yet"}})
    def ready() -> JSONResponse:
        """Readiness: a model is loaded (and whether the registry answered its last poll)."""
        status = champion.status()
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    @app.get("/model", responses={503: {"model": ErrorResponse}})
    def model() -> dict[str, Any]:
        """The loaded model: name, version, alias, git commit and data hashes."""
        return serving().description

    @app.get("/metrics", response_class=Response)
    def metrics() -> Response:
        """Prometheus text format: requests, latency, texts scored, model version."""
        body, content_type = telemetry.exposition()
        return Response(body, media_type=content_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(resources.files("textclf.serve").joinpath("page.html").read_text())

    return app


class LoadShedder:
    """Past `max_in_flight` /predict requests in this worker (running or queued for a thread),
    answer 503 with Retry-After at once: a request admitted keeps its latency, and a client
    that is turned away knows to come back, instead of timing out in a queue."""

    def __init__(self, app: ASGIApp, max_in_flight: int, retry_after_seconds: int = 1) -> None:
        self.app, self.max_in_flight = app, max_in_flight
        self.retry_after = str(retry_after_seconds)
        self.in_flight = 0  # one event loop per worker: no lock needed between awaits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != "/predict":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            telemetry.SHED.inc()
            response = JSONResponse(
                {
                    "error": f"busy: {self.in_flight} requests in flight; retry shortly",
                    "limit": "serve.max_in_flight",
                },
                status_code=503,
                headers={"Retry-After": self.retry_after},
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyLimit:
    """Refuse a request body over `max_bytes` with 413, whether it declares its length or comes
    in chunks (read here, up to the limit, before the app sees it)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(scope, send)
            else:  # the server holds the body to its declared length
                await self.app(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = JSONResponse(
            {
                "error": f"the request body is over {self.max_bytes} bytes",
                "limit": "serve.max_body_bytes",
            },
            status_code=413,
        )
        await response(scope, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
