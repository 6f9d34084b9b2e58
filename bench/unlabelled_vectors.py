"""Measure what word vectors learned from unlabelled reviews add to the default NB features.

Not in the pipeline yet (README: Not built yet); this is the experiment behind that paragraph,
kept so it can be repeated. Word vectors: co-occurrence within `--window` tokens (weighted
1/distance) of the `--words` most frequent words of train + the 50,000 unlabelled reviews, PPMI
with smoothed context counts (power 0.75), SVD to `--dims` dimensions. A review's vector is the
normalised sum of its words' vectors (1 + log counts); it is appended, times a scale s, to the
NB-weighted n-gram features of the default model's one logistic regression (C, alpha, beta and
the vectoriser as in params.yaml). Prints accuracy for each s on the test split and on two
folds of a cross-validation on train grouped by movie (the archive's url lists), the split
that says what transfers to other movies.

    uv run python bench/unlabelled_vectors.py [--archive ...aclImdb_v1.tar.gz]
"""

from __future__ import annotations

import argparse
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.utils.extmath import randomized_svd

from textclf.core.params import load_params
from textclf.ml.nb_weighting import interpolate, log_count_ratio
from textclf.ml.text import normalize
from textclf.ml.vectorize import FastCountVectorizer
from textclf.pipeline.ingest import read_aclimdb
from textclf.pipeline.prepare import prepare

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/datasets/imdb/aclImdb_v1.tar.gz"
SCALES = (0.0, 2.0, 4.0, 8.0)


def word_vectors(texts: list[str], pattern: str, words: int, window: int, dims: int) -> tuple:
    """(vocabulary of the `words` most frequent tokens, their vectors)."""
    found = pl.Series(texts).str.to_lowercase().str.extract_all(pattern)
    tokens = pl.DataFrame({"row": np.arange(len(texts)), "token": found}).explode("token")
    tokens = tokens.drop_nulls("token")
    top = tokens.group_by("token").len().sort(["len", "token"], descending=[True, False])
    top = top.head(words).with_columns(id=pl.int_range(0, pl.len(), dtype=pl.Int64))
    ids = tokens.join(top.select("token", "id"), on="token", how="left", maintain_order="left")
    row, word = ids["row"].to_numpy(), ids["id"].fill_null(-1).to_numpy()
    size = len(top)
    counts = sp.csr_matrix((size, size), dtype=np.float64)
    for distance in range(1, window + 1):
        left, right = word[:-distance], word[distance:]
        ok = (row[:-distance] == row[distance:]) & (left >= 0) & (right >= 0)
        pairs = sp.coo_matrix(
            (np.full(ok.sum(), 1.0 / distance), (left[ok], right[ok])), shape=(size, size)
        ).tocsr()
        counts = counts + pairs + pairs.T
    total = counts.sum()
    rows = np.asarray(counts.sum(axis=1)).ravel()
    contexts = rows**0.75 / (rows**0.75).sum() * total
    cells = counts.tocoo()
    pmi = np.log(cells.data * total / (rows[cells.row] * contexts[cells.col]))
    positive = pmi > 0
    ppmi = sp.csr_matrix(
        (pmi[positive], (cells.row[positive], cells.col[positive])), shape=(size, size)
    )
    left_vectors, strengths, _ = randomized_svd(ppmi, dims, random_state=0)
    vocabulary = dict(zip(top["token"].to_list(), range(size), strict=True))
    return vocabulary, left_vectors * np.sqrt(strengths)


def accuracies(train: tuple, test: tuple, embed, params) -> dict[float, float]:  # type: ignore[no-untyped-def]
    (train_texts, train_y), (test_texts, test_y) = train, test
    options = {k: v for k, v in params.train.vectorizer.items() if k in ("token_pattern", "min_df")}
    ngrams = FastCountVectorizer(
        ngram_range=tuple(params.train.vectorizer["ngram_range"]), **options
    )
    A = ngrams.fit_transform(train_texts).astype(np.float64)
    B = ngrams.transform(test_texts).astype(np.float64)
    A.data, B.data = 1 + np.log(A.data), 1 + np.log(B.data)  # sublinear counts, as the defaults
    ratio = log_count_ratio(A, train_y, params.train.nb_alpha)
    A, B = A.multiply(ratio).tocsr(), B.multiply(ratio).tocsr()
    vectors_a, vectors_b = embed(train_texts), embed(test_texts)
    beta, found = params.train.nb_interpolation, {}
    for scale in SCALES:
        left = sp.hstack([A, sp.csr_matrix(vectors_a * scale)]).tocsr() if scale else A
        right = sp.hstack([B, sp.csr_matrix(vectors_b * scale)]).tocsr() if scale else B
        C = params.train.classifier["C"]
        model = LogisticRegression(C=C, dual=True, solver="liblinear", max_iter=3000)
        interpolate(model.fit(left, train_y), beta)
        found[scale] = round(float(((model.decision_function(right) > 0) == test_y).mean()), 5)
    return found


def movies(archive: Path) -> dict[str, str]:
    """Review id (as ingest names it, `train/pos/12`) -> the IMDB title it reviews."""
    found = {}
    with tarfile.open(archive) as tar:
        for label in ("pos", "neg"):
            lines = tar.extractfile(f"aclImdb/train/urls_{label}.txt").read().decode().split()  # type: ignore[union-attr]
            found.update({f"train/{label}/{i}": url.split("/")[4] for i, url in enumerate(lines)})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--words", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--dims", type=int, default=200)
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    data = read_aclimdb(args.archive)
    splits = prepare(data.labelled, params.prepare)
    train = pd.concat([splits.train, splits.validation], ignore_index=True)
    unlabelled = [normalize(text, params.prepare.normalize) for text in data.unlabelled["text"]]
    texts, labels = train["text"].tolist(), train["label"].eq("pos").to_numpy()
    pattern = params.train.vectorizer["token_pattern"]

    started = time.perf_counter()
    vocabulary, vectors = word_vectors(
        texts + unlabelled, pattern, args.words, args.window, args.dims
    )
    seconds = time.perf_counter() - started
    print(f"word vectors: {len(vocabulary):,} words x {args.dims}, {seconds:.1f} s")
    counter = FastCountVectorizer(token_pattern=pattern, vocabulary=vocabulary)

    def embed(batch: list[str]) -> np.ndarray:
        counts = counter.transform(batch).astype(np.float64)
        counts.data = 1 + np.log(counts.data)
        summed = counts @ vectors
        return summed / (np.linalg.norm(summed, axis=1, keepdims=True) + 1e-9)

    test = (splits.test["text"].tolist(), splits.test["label"].eq("pos").to_numpy())
    print(f"test split, accuracy by scale: {accuracies((texts, labels), test, embed, params)}")
    groups = train["id"].map(movies(args.archive)).to_numpy()
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=42).split(texts, labels, groups)
    for fold, (fit_rows, held_rows) in zip(range(2), folds, strict=False):
        fit_part = ([texts[i] for i in fit_rows], labels[fit_rows])
        held = ([texts[i] for i in held_rows], labels[held_rows])
        found = accuracies(fit_part, held, embed, params)
        print(f"movie-grouped fold {fold}, accuracy by scale: {found}")


if __name__ == "__main__":
    main()
