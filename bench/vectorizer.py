"""Benchmark the Rust-counting vectoriser against scikit-learn's on full IMDB.

Both are fitted on the 25,000 train reviews (normalised as the pipeline does) with the
vectorizer params of params.yaml, then transform the 25,000 test reviews, in one process.
Prints fit and transform seconds, the ratios, whether the vocabularies are equal, how many
matrix entries differ, and how many texts went through scikit-learn's analyzer because they
hold a character the regex engines disagree on. First, the normaliser that runs before it: the
25,000 raw test reviews with and without its shortcuts (and whether the outputs are equal).

    uv run python bench/vectorizer.py [--archive ...aclImdb_v1.tar.gz] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from results import recorded  # bench/results.py, beside this script
from textclf.ml import vectorize
from textclf.ml.model import TextNormalizer
from textclf.ml.params import load_params
from textclf.ml.text import normalize
from textclf.ml.vectorize import FastCountVectorizer, FastTfidfVectorizer
from textclf.pipeline.ingest import read_aclimdb

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"
PAIRS = {
    "count": (CountVectorizer, FastCountVectorizer),
    "tfidf": (TfidfVectorizer, FastTfidfVectorizer),
}


def best_of(repeats: int, action) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--repeats", type=int, default=3, help="transforms timed; the best kept")
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    options = {k: v for k, v in params.train.vectorizer.items() if k != "kind"}
    scikit_learn, rust = PAIRS[params.train.vectorizer["kind"]]
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    labelled = read_aclimdb(args.archive).labelled
    normalizer = TextNormalizer(params.prepare.normalize)
    raw_test = labelled.loc[labelled["split"] == "test", "text"].tolist()
    plain_seconds, plain = best_of(
        args.repeats,
        lambda: [normalize(text, normalizer.options, shortcuts=False) for text in raw_test],
    )
    fast_seconds, test = best_of(args.repeats, lambda: normalizer.transform(raw_test))
    print(
        f"normalise {len(raw_test):,} raw test reviews: every step {plain_seconds:.2f} s, with "
        f"shortcuts {fast_seconds:.2f} s = {plain_seconds / fast_seconds:.2f}x; "
        f"same texts: {plain == test}"
    )
    train = normalizer.transform(labelled.loc[labelled["split"] == "train", "text"])
    print(f"train {len(train):,} / test {len(test):,} reviews; {rust.__name__} {options}")

    fit_reference, reference = best_of(1, lambda: scikit_learn(**options).fit(train))
    fit_fast, fast = best_of(1, lambda: rust(**options).fit(train))
    print(
        f"fit: scikit-learn {fit_reference:.1f} s, Rust counting {fit_fast:.1f} s "
        f"({fit_reference / fit_fast:.2f}x); same vocabulary: "
        f"{reference.vocabulary_ == fast.vocabulary_} ({len(fast.vocabulary_):,} terms)"
    )
    fast.transform(test[:100])  # builds the integer index of the vocabulary, once per model
    seconds_reference, expected = best_of(args.repeats, lambda: reference.transform(test))
    seconds_fast, got = best_of(args.repeats, lambda: fast.transform(test))
    different = (expected != got).nnz
    print(
        f"transform {len(test):,} reviews: scikit-learn {seconds_reference:.2f} s "
        f"({len(test) / seconds_reference:,.0f}/s), Rust counting {seconds_fast:.2f} s "
        f"({len(test) / seconds_fast:,.0f}/s): {seconds_reference / seconds_fast:.2f}x"
    )
    identical = np.array_equal(expected.indices, got.indices) and np.array_equal(
        expected.data, got.data
    )
    print(
        f"entries that differ: {different:,} of {expected.nnz:,} ({different / expected.nnz:.2%})"
        f"; identical storage: {identical}"
    )
    import polars as pl

    odd = vectorize._rows_with_disputed_characters(pl.Series(test))
    characters = Counter(
        char for row in odd for char in set(test[row]) if not vectorize._AGREES.get(char, True)
    )
    print(
        f"test reviews counted by scikit-learn's analyzer (disputed characters): {len(odd)}; "
        f"characters: {', '.join(f'{c!r} x{n}' for c, n in characters.most_common(10))}"
    )


if __name__ == "__main__":
    with recorded("vectorizer"):
        main()
