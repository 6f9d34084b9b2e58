"""Load shedding of the online service: latency of the requests it admits and the share it turns
away, at the rate it sustains and at 2x and 4x that rate, on loopback.

Serves the bundled sample's model (`models/model.skops`, after `make`) with `textclf serve` and
the repository's params (2 workers, `serve.max_in_flight` /predict requests per worker), then:

1. capacity: the open loop below at 25, 50, 75, ... requests/s, 5 s each, until more than 1%
   is shed: the last rate answered whole is the rate the service sustains;
2. for 1x, 2x and 4x that rate, an open-loop load for `--seconds`: requests start on a fixed
   schedule whatever the answers, on as many connections as they need (up to `--connections`).
   Latency is counted from the scheduled start, so a request that waits for a connection counts
   that wait against the service (no coordinated omission).

Printed per load: offered and answered rates, the share shed (503 with Retry-After), p50 / p99
of the admitted (200) and of the shed requests, and anything else (errors). The load generator
is a small asyncio client in this process, so it shares the machine's cores with the service.

    uv run python bench/serve_shedding.py [--seconds 20] [--model models/model.skops]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from loopback import free_port  # bench/loopback.py, beside this script
from results import recorded  # bench/results.py, beside this script

REPO = Path(__file__).resolve().parents[1]
FACTORS = (1, 2, 4)


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a POST /predict and reads the answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, body: bytes) -> int:
        head = (
            "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def sustained_rate(port: int, bodies: list[bytes], most_connections: int) -> float:
    """The highest rate answered with under 1% shed, stepping the offered rate by 25 req/s
    (5 s each) until more than 1% is turned away."""
    best, rate = 0.0, 25.0
    while True:
        trial = asyncio.run(open_loop(port, bodies, rate, 5, most_connections))
        if trial["shed_share"] > 0.01 or trial["errors"]:
            return best
        best, rate = trial["answered_per_s"], rate + 25


async def open_loop(
    port: int, bodies: list[bytes], rate: float, seconds: float, most_connections: int
) -> dict:
    """Requests started every 1/rate s for `seconds`; each outcome with its latency."""
    idle: list[Connection] = []
    opened = 0
    outcomes: list[tuple[int, float]] = []  # (status, seconds from the scheduled start)
    slot = asyncio.Semaphore(most_connections)

    async def one(index: int, scheduled: float) -> None:
        nonlocal opened
        async with slot:
            body = bodies[index % len(bodies)]
            status = 0  # no answer: a transport error
            # an idle keep-alive connection the server has closed (uvicorn: after 5 s) is
            # retried once on a new one, as HTTP clients do
            for reuse in (bool(idle), False):
                try:
                    if reuse:
                        connection = idle.pop()
                    else:
                        opened += 1
                        connection = await Connection.open(port)
                    status = await connection.post(body)
                    idle.append(connection)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    continue
        outcomes.append((status, time.perf_counter() - scheduled))

    interval = 1 / rate
    started = time.perf_counter()
    tasks = []
    for index in range(int(rate * seconds)):
        scheduled = started + index * interval
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for connection in idle:
        connection.close()
    admitted = [latency for status, latency in outcomes if status == 200]
    shed = [latency for status, latency in outcomes if status == 503]
    return {
        "offered": rate,
        "answered_per_s": len(admitted) / elapsed,
        "requests": len(outcomes),
        "shed_share": len(shed) / len(outcomes),
        "errors": dict(Counter(status for status, _ in outcomes if status not in (200, 503))),
        "admitted_p50_ms": _ms(percentile(admitted, 0.5)),
        "admitted_p99_ms": _ms(percentile(admitted, 0.99)),
        "shed_p50_ms": _ms(percentile(shed, 0.5)),
        "shed_p99_ms": _ms(percentile(shed, 0.99)),
        "connections": opened,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def review_bodies(limit: int = 2000) -> list[bytes]:
    import pandas as pd

    texts = pd.read_parquet(REPO / "data/prepared/test.parquet")["text"].tolist()[:limit]
    random.Random(0).shuffle(texts)
    return [json.dumps({"text": text}).encode() for text in texts]


def measure(model: Path, max_in_flight: int, seconds: float, connections: int) -> tuple:
    """The service with `serve.max_in_flight` set to `max_in_flight`: its sustained rate and
    the open-loop loads at each factor of it."""
    from textclf.core.health import wait_until_healthy

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["serve"]["max_in_flight"] = max_in_flight
    bodies = review_bodies()
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bench-shedding-"))
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    server = subprocess.Popen(
        ["textclf", "serve", "--params", str(folder / "params.yaml"), "--model", str(model),
         "--port", str(port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/ready", 120)
        asyncio.run(open_loop(port, bodies, 20, 3, connections))  # warm up both workers
        sustained = sustained_rate(port, bodies, connections)
        loads = [
            asyncio.run(open_loop(port, bodies, factor * sustained, seconds, connections))
            for factor in FACTORS
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    return sustained, loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models/model.skops")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=512)
    parser.add_argument(
        "--compare", type=int, default=32, help="a second serve.max_in_flight to measure beside"
    )
    args = parser.parse_args()
    if not args.model.exists():
        sys.exit(f"{args.model} is missing: run `make` first")
    from textclf.ml.params import load_params

    serve = load_params(REPO / "params.yaml").serve
    print(
        f"service: {serve.workers} uvicorn workers, the sample's model, single reviews of its "
        f"test split; {args.seconds:.0f} s per load; the load generator runs on the same cores"
    )
    for bound in (serve.max_in_flight, args.compare):
        sustained, loads = measure(args.model, bound, args.seconds, args.connections)
        which = "params.yaml" if bound == serve.max_in_flight else "for comparison"
        print(f"\nserve.max_in_flight {bound} per worker ({which})")
        print(f"sustained (highest rate with under 1% shed, steps of 25/s): {sustained:,.0f} req/s")
        print(
            f"{'load':>5} {'offered/s':>9} {'answered/s':>10} {'shed':>6} {'p50 ms':>7} "
            f"{'p99 ms':>8} {'shed p50':>8} {'shed p99':>8} {'errors':>6} {'conns':>5}"
        )
        for factor, load in zip(FACTORS, loads, strict=True):
            print(
                f"{factor:>4}x {load['offered']:9,.0f} {load['answered_per_s']:10,.0f} "
                f"{load['shed_share']:6.1%} {_cell(load['admitted_p50_ms']):>7} "
                f"{_cell(load['admitted_p99_ms']):>8} {_cell(load['shed_p50_ms']):>8} "
                f"{_cell(load['shed_p99_ms']):>8} {_errors(load['errors']):>6} "
                f"{load['connections']:>5}"
            )
    print(
        "\n(p50/p99: admitted requests, from their scheduled start; shed: answered 503; "
        "errors: status: count, 0 = no answer)"
    )


def _errors(errors: dict[int, int]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(errors.items())) or "0"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


if __name__ == "__main__":
    with recorded("serve_shedding"):
        main()
