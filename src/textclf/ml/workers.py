"""Scoring on every core: chunks of texts scored by this process and a pool of helpers, in order.

`workers` counts the processes that score, this one included: with N workers, N - 1 helper
processes each hold the model once (sent pickled when the pool starts) and run the one scoring
function, `score_texts`, on whole chunks, and this process scores a chunk itself whenever every
helper already has its share queued. So no core waits while a helper starts (about two
seconds), and the tree holds the model once per worker, not once more for an idle parent.
Callers get each chunk's Scores back in input order, and a text's scores do not depend on the
other texts of its chunk or on the process that scored it, so the output is the same bytes
whatever the number of workers. At most two chunks per worker are pending, so memory stays
bounded whatever the input's size. A small input (one chunk) is scored without a pool.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import numpy as np

from textclf.core.progress import Progress
from textclf.ml.scoring import Scores, score_texts

Chunk = TypeVar("Chunk")
IN_FLIGHT_PER_WORKER = 2
_END = object()


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit included)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(requested: int | None) -> int:
    return requested or available_cores()


def score_chunks(
    model: Any,
    chunks: Iterable[Chunk],
    texts_of: Callable[[Chunk], list[str]],
    min_confidence: float = 0.0,
    workers: int | None = None,
) -> Iterator[tuple[Chunk, Scores]]:
    """(chunk, its Scores) for each chunk, in order. `texts_of` runs here, in the calling
    process, as each chunk is handed out: an error it raises (e.g. a missing column) stops
    the run with that error."""
    chunks = iter(chunks)
    head = list(itertools.islice(chunks, 2))
    count = worker_count(workers)
    if len(head) < 2 or count == 1:
        for chunk in itertools.chain(head, chunks):
            yield chunk, score_texts(model, texts_of(chunk), min_confidence)
        return
    helpers = count - 1
    with _pool(model, helpers, threads=max(1, available_cores() // count)) as pool:
        pending: deque[tuple[Chunk, Future | Scores]] = deque()
        for chunk in itertools.chain(head, chunks):
            texts = texts_of(chunk)
            if _queued(pending) >= IN_FLIGHT_PER_WORKER * helpers:
                pending.append((chunk, score_texts(model, texts, min_confidence)))
            else:
                pending.append((chunk, _submit(pool, texts, min_confidence)))
            while pending and (
                _ready(pending[0][1]) or len(pending) >= IN_FLIGHT_PER_WORKER * count
            ):
                done, scores = pending.popleft()
                yield done, _result(scores)
        while pending:
            done, scores = pending.popleft()
            yield done, _result(scores)


def score_all(
    model: Any,
    texts: list[str],
    min_confidence: float = 0.0,
    workers: int | None = None,
    chunk_rows: int = 5000,
) -> Scores:
    """`score_texts` of all `texts`, computed chunk by chunk on `workers` processes."""
    pieces = [texts[start : start + chunk_rows] for start in range(0, len(texts), chunk_rows)]
    if len(pieces) < 2:
        return score_texts(model, texts, min_confidence)
    parts = []
    with Progress("scoring", total=len(texts), unit="texts") as progress:
        for piece, scores in score_chunks(model, pieces, list, min_confidence, workers):
            parts.append(scores)
            progress.update(len(piece))
    return Scores(parts[0].classes, np.vstack([part.proba for part in parts]), min_confidence)


def _pool(model: Any, helpers: int, threads: int) -> ProcessPoolExecutor:
    # spawn, not fork: the caller may be a multi-threaded process (a Prefect worker, a server),
    # and a forked child inherits its locks in whatever state they were.
    return ProcessPoolExecutor(
        max_workers=helpers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_hold_model,
        initargs=(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), threads),
    )


def _queued(pending: deque) -> int:
    return sum(isinstance(item, Future) and not item.done() for _, item in pending)


def _ready(item: Future | Scores) -> bool:
    return not isinstance(item, Future) or item.done()


_model: Any = None


def _hold_model(pickled: bytes, threads: int) -> None:
    # Before anything imports polars: its thread pool is sized once, at import.
    os.environ["POLARS_MAX_THREADS"] = str(threads)
    global _model
    _model = pickle.loads(pickled)


def _score(texts: list[str], min_confidence: float) -> Scores:
    return score_texts(_model, texts, min_confidence)


def _submit(pool: ProcessPoolExecutor, texts: list[str], min_confidence: float) -> Future:
    try:
        return pool.submit(_score, texts, min_confidence)
    except BrokenProcessPool as error:  # a helper died before its chunk's answer was read
        raise _died() from error


def _result(item: Future | Scores) -> Scores:
    if not isinstance(item, Future):
        return item
    try:
        return item.result()
    except BrokenProcessPool as error:
        raise _died() from error


def _died() -> RuntimeError:
    return RuntimeError(
        "a scoring worker process died (out of memory, or killed); lower batch.workers or "
        "batch.chunk_rows, or give the host more memory"
    )
