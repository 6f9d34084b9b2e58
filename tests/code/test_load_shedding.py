"""The service sheds load (serve/app.py LoadShedder): past serve.max_in_flight /predict requests
in flight, the next ones get 503 with Retry-After at once, and the admitted ones finish."""

from __future__ import annotations

import asyncio
import json

from textclf.serve.app import LoadShedder


async def call(app, path: str = "/predict") -> tuple[int, dict, dict]:  # type: ignore[no-untyped-def]
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "POST", "headers": []}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body or b"{}")


def test_past_the_bound_requests_are_shed_at_once_and_the_admitted_finish() -> None:
    release = asyncio.Event()
    entered = []

    async def slow(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        entered.append(scope["path"])
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def scenario() -> list[tuple[int, dict, dict]]:
        shedder = LoadShedder(slow, max_in_flight=2)
        admitted = [asyncio.create_task(call(shedder)) for _ in range(2)]
        await asyncio.sleep(0.01)
        shed = [await call(shedder) for _ in range(3)]  # answered while two are in flight
        health = asyncio.create_task(call(shedder, "/health"))  # never shed
        await asyncio.sleep(0.01)
        release.set()
        done = [await task for task in admitted] + [await health]
        after = await call(shedder)  # the bound frees up again
        assert shedder.in_flight == 0
        return shed + done + [after]

    results = asyncio.run(scenario())
    shed, done, after = results[:3], results[3:6], results[6]
    for status, headers, body in shed:
        assert status == 503 and headers["retry-after"] == "1"
        assert body["limit"] == "serve.max_in_flight"
    assert [status for status, _, _ in done] == [200, 200, 200]
    assert after[0] == 200
    assert entered.count("/predict") == 3  # the shed ones never reached the app
