"""Load on the online service with wrk (Debian's package), on loopback, and print the numbers.

Trains the default pipeline on the full IMDB train split, serves it with `textclf serve` (2
uvicorn workers), then for `--seconds` each:

1. single-text requests at about 100, 200 and 400 requests/s (wrk holds a fixed number of
   connections; each waits `connections / rate` between its requests, so the offered rate is
   the target as long as the service keeps up): achieved rate, p50 / p99 latency, errors;
2. requests of 64 texts, as fast as 4 connections go: texts/s, as a ratio to the model's own
   `predict_proba` on the same 64-text batches in one process (the in-process ceiling a
   2-worker service is measured against).

    uv run python bench/serve_load.py [--archive ../shared/datasets/imdb/aclImdb_v1.tar.gz]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loopback import free_port  # bench/loopback.py, beside this script
from results import recorded  # bench/results.py, beside this script

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"
BATCH = 64

# wrk: each thread loads the request bodies, sends them round-robin, and waits `delay` ms
# between a connection's requests (0: as fast as it can).
SCRIPT = """
local bodies = {}
local index = 0
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
function init(args)
  for line in io.lines(os.getenv("WRK_BODIES")) do bodies[#bodies + 1] = line end
end
function request()
  index = index % #bodies + 1
  return wrk.format("POST", "/predict", {["Content-Type"] = "application/json"}, bodies[index])
end
function delay()
  return pause
end
"""


def train_full_model(archive: Path, folder: Path) -> tuple[Path, list[str]]:
    """The default pipeline fitted on the full IMDB train split; and the test reviews."""
    from textclf.ml.params import load_params
    from textclf.ml.persist import save_model
    from textclf.pipeline.ingest import ingest
    from textclf.pipeline.prepare import prepare
    from textclf.pipeline.train import train

    params = load_params(REPO / "params.yaml")
    params = dataclasses.replace(
        params, dataset=dataclasses.replace(params.dataset, source=str(archive), deliveries="-")
    )
    splits = prepare(ingest(params.dataset).labelled, params.prepare)
    trained = train(splits.train, splits.validation, params)
    path = folder / "model.skops"
    save_model(trained.model, path)
    return path, splits.test["text"].tolist()


def in_process_texts_per_second(model_path: Path, texts: list[str]) -> float:
    from textclf.ml.persist import load_model_file

    model = load_model_file(Path(model_path)).pipeline
    batches = [texts[i : i + BATCH] for i in range(0, len(texts) - BATCH + 1, BATCH)]
    started = time.perf_counter()
    for batch in batches:
        model.predict_proba(batch)
    return len(batches) * BATCH / (time.perf_counter() - started)


def wrk(url: str, bodies: Path, connections: int, seconds: int, delay_ms: float) -> dict:
    script = bodies.parent / "load.lua"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [
            "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
            "-s", str(script), url,
        ],
        capture_output=True, text=True, check=True,
        env={**os.environ, "WRK_BODIES": str(bodies), "WRK_DELAY_MS": f"{delay_ms:.1f}"},
    )  # fmt: skip
    out = result.stdout

    def millis(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": millis("50%"),
        "p99": millis("99%"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": errors,
    }


def pause(url: str, bodies: Path, rate: float, connections: int) -> float:
    """The wait between a connection's requests that offers `rate` requests/s: the nominal
    `connections / rate`, less the latency a 5-second trial shows."""
    nominal = connections * 1000 / rate
    trial = wrk(url, bodies, connections, 5, nominal)
    return max(0.0, nominal - (connections * 1000 / trial["rate"] - nominal))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk: apt-get install wrk")
    from textclf.core.health import wait_until_healthy

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        model_path, texts = train_full_model(args.archive.resolve(), folder)
        random.Random(0).shuffle(texts)
        singles, batches = folder / "single.jsonl", folder / "batch.jsonl"
        singles.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts[:5000]))
        batches.write_text(
            "".join(
                json.dumps({"texts": texts[i : i + BATCH]}) + "\n"
                for i in range(0, 200 * BATCH, BATCH)
            )
        )
        ceiling = in_process_texts_per_second(model_path, texts[: 200 * BATCH])
        port = free_port()
        server = subprocess.Popen(
            ["textclf", "serve", "--model", str(model_path), "--port", str(port),
             "--workers", str(args.workers)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(f"{url}/ready", 120)
            wrk(url, singles, 4, 5, 0)  # warm up both workers
            single = {}
            for rate, connections in ((100, 10), (200, 20), (400, 40)):
                single[rate] = wrk(
                    url, singles, connections, args.seconds, connections * 1000 / rate
                )
            batched = wrk(url, batches, 4, args.seconds, 0)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"service: {args.workers} uvicorn workers, full-IMDB model, reviews of the test split")
    print(f"{'target req/s':>12} {'achieved':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for rate, numbers in single.items():
        print(
            f"{rate:>12} {numbers['rate']:9.1f} {numbers['p50']:7.1f} {numbers['p99']:7.1f} "
            f"{numbers['errors']:>6}"
        )
    texts_per_second = batched["rate"] * BATCH
    print(
        f"{BATCH} texts per request, 4 connections: {batched['rate']:.1f} req/s = "
        f"{texts_per_second:,.0f} texts/s (p50 {batched['p50']:.0f} ms, p99 {batched['p99']:.0f} "
        f"ms, {batched['errors']} errors)"
    )
    print(
        f"in-process predict_proba, same {BATCH}-text batches: {ceiling:,.0f} texts/s; "
        f"service / in-process = {texts_per_second / ceiling:.2f}"
    )


if __name__ == "__main__":
    with recorded("serve_load"):
        main()
