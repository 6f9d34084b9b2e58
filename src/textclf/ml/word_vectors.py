"""Word vectors learned from unlabelled text, and the document features made from them.

The NB-weighted n-grams know only the n-grams seen with labels; word vectors learned from every
review (the 50,000 unlabelled ones included) let words that were rare in train borrow what
their neighbours say. `learn_word_vectors` counts which words occur within a few tokens of each
other, turns the counts into positive pointwise mutual information (PPMI, contexts smoothed
as in Levy, Goldberg & Dagan 2015) and keeps its strongest directions (randomised SVD).
`NgramsAndWordVectors` is the model's `vectorize` step with them: the n-gram features, and
after them the sum of a text's word vectors (each weighted like its word column), scaled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone

from textclf.core.errors import DataError, ParamsError

# Context counts raised to this power before PMI: rare contexts otherwise get huge PMI.
CONTEXT_SMOOTHING = 0.75
# Power iterations of the randomised SVD. scikit-learn's default for this shape, 7, is 0.1-0.2
# points better on full IMDB but takes 21 s more, and the whole `dvc repro` must stay under
# 3 minutes there (README: Performance).
SVD_ITERATIONS = 2


@dataclass(frozen=True, repr=False)
class WordVectors:
    """`vectors[i]` is the vector of `words[i]` (lower-cased tokens)."""

    words: list[str]
    vectors: np.ndarray  # float32, words x dims

    def __repr__(self) -> str:  # a model's repr shows its params: not 20,000 words
        return f"WordVectors({len(self.words)} words x {self.dims})"

    def __getstate__(self) -> dict:
        # One array, not a list of 20,000 strings: skops writes a list item by item (persist.py).
        return {"words": np.array(self.words, dtype=str), "vectors": self.vectors}

    def __setstate__(self, state: dict) -> None:
        words = state["words"]  # an array; a list in older pickles
        object.__setattr__(
            self, "words", words.tolist() if isinstance(words, np.ndarray) else words
        )
        object.__setattr__(self, "vectors", state["vectors"])

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])


def learn_word_vectors(
    texts: Iterable[str],
    token_pattern: str,
    lowercase: bool,
    words: int,
    window: int,
    dims: int,
    seed: int,
) -> WordVectors:
    """Vectors of the `words` most frequent tokens of `texts` (found as the n-gram vectoriser
    finds them), from co-occurrence within `window` tokens (each pair weighted 1/distance)."""
    import polars as pl
    from sklearn.utils.extmath import randomized_svd

    texts = list(texts)
    series = pl.Series(texts, dtype=pl.String)
    found = (series.str.to_lowercase() if lowercase else series).str.extract_all(token_pattern)
    tokens = pl.DataFrame({"row": np.arange(len(texts)), "token": found}).explode("token")
    tokens = tokens.drop_nulls("token")
    # Ties broken by the word itself, so the same texts always give the same vocabulary.
    top = tokens.group_by("token").len().sort(["len", "token"], descending=[True, False])
    top = top.head(words).with_columns(id=pl.int_range(0, pl.len(), dtype=pl.Int64))
    ids = tokens.join(top.select("token", "id"), on="token", how="left", maintain_order="left")
    row, word = ids["row"].to_numpy(), ids["id"].fill_null(-1).to_numpy()
    size = len(top)
    if size < 2:  # no dims would do: the texts themselves are the problem
        raise DataError(
            "the training texts",
            f"they hold {size} distinct word(s) matching the token pattern {token_pattern!r}",
            "check that the text column holds the texts (dataset.text_column), or set "
            "train.word_vectors: null",
        )
    if size < dims + 1:
        raise ParamsError(
            "train.word_vectors.dims",
            f"the texts hold {size} distinct words: too few for {dims}-dimensional word vectors",
            f"lower train.word_vectors.dims below {size}, add text, or set "
            "train.word_vectors: null",
        )
    counts = _cooccurrence(row, word, size, window)
    vectors, strengths, _ = randomized_svd(
        _ppmi(counts), dims, n_iter=SVD_ITERATIONS, random_state=seed
    )
    return WordVectors(top["token"].to_list(), (vectors * np.sqrt(strengths)).astype(np.float32))


def _cooccurrence(row: np.ndarray, word: np.ndarray, size: int, window: int) -> sp.csr_matrix:
    """Symmetric counts of word pairs at most `window` tokens apart in the same text."""
    counts = sp.csr_matrix((size, size), dtype=np.float64)
    for distance in range(1, window + 1):
        left, right = word[:-distance], word[distance:]
        kept = (row[:-distance] == row[distance:]) & (left >= 0) & (right >= 0)
        weights = np.full(int(kept.sum()), 1.0 / distance)
        pairs = sp.csr_matrix((weights, (left[kept], right[kept])), shape=(size, size))
        counts = counts + pairs + pairs.T
    return counts


def _ppmi(counts: sp.csr_matrix) -> sp.csr_matrix:
    total = counts.sum()
    words = np.asarray(counts.sum(axis=1)).ravel()
    contexts = words**CONTEXT_SMOOTHING
    contexts = contexts / contexts.sum() * total
    cells = counts.tocoo()
    pmi = np.log(cells.data * total / (words[cells.row] * contexts[cells.col]))
    kept = pmi > 0
    return sp.csr_matrix(
        (pmi[kept].astype(np.float32), (cells.row[kept], cells.col[kept])), shape=counts.shape
    )


class NgramsAndWordVectors(TransformerMixin, BaseEstimator):
    """`ngrams`' features, then the sum of the text's word vectors, each weighted by its word's
    feature value, divided by the sum's mean length over the texts it was fitted on, times
    `scale`. `word_vectors` are learned beforehand (from text without labels) and are not
    refitted by `fit`.

    The sum is not normalised per text: a longer text gets a longer vector, as it gets more
    n-gram mass. Unit-length sums let one name in a five-word review swing the prediction
    (full IMDB: 26% of the behaviour suite's "names in short reviews" failed, against 0%).
    """

    def __init__(self, ngrams: BaseEstimator, word_vectors: WordVectors, scale: float) -> None:
        self.ngrams = ngrams
        self.word_vectors = word_vectors
        self.scale = scale

    @property
    def vocabulary_(self) -> dict[str, int]:
        """The n-gram columns' names (the word-vector columns come after them)."""
        return self.ngrams_.vocabulary_

    @property
    def n_appended(self) -> int:
        return self.word_vectors.dims

    def build_tokenizer(self) -> Any:
        """The n-gram vectoriser's word splitter (monitoring counts out-of-vocabulary words with
        it), so that this step reads text as the vectoriser it wraps does."""
        return self.ngrams_.build_tokenizer()

    def fit(self, X: Iterable[str], y: Any = None) -> NgramsAndWordVectors:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: Iterable[str], y: Any = None, **fit_params: Any) -> sp.csr_matrix:
        self.ngrams_ = clone(self.ngrams)
        counts = self.ngrams_.fit_transform(X, y)
        vocabulary = getattr(self.ngrams_, "vocabulary_", None)
        if vocabulary is None:
            raise ValueError(
                f"word vectors need a vectoriser with a vocabulary; "
                f"{type(self.ngrams).__name__} has none"
            )
        # Which n-gram column holds each word that has a vector, and that vector.
        known = [
            (vocabulary[w], i) for i, w in enumerate(self.word_vectors.words) if w in vocabulary
        ]
        self.word_columns_ = np.array([column for column, _ in known], dtype=np.int64)
        self.word_rows_ = np.array([row for _, row in known], dtype=np.int64)
        summed = self._summed(counts)
        lengths = np.linalg.norm(summed, axis=1)
        self.typical_length_ = float(lengths[lengths > 0].mean()) if lengths.any() else 1.0
        return self._with_vectors(counts, summed)

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        counts = self.ngrams_.transform(X)
        return self._with_vectors(counts, self._summed(counts))

    def _summed(self, counts: sp.spmatrix) -> np.ndarray:
        vectors = self.word_vectors.vectors[self.word_rows_]
        return np.asarray(sp.csr_matrix(counts)[:, self.word_columns_] @ vectors, dtype=np.float64)

    def _with_vectors(self, counts: sp.spmatrix, summed: np.ndarray) -> sp.csr_matrix:
        appended = summed * (self.scale / self.typical_length_)
        return append_dense_columns(sp.csr_matrix(counts, dtype=np.float64), appended)


def append_dense_columns(matrix: sp.csr_matrix, dense: np.ndarray) -> sp.csr_matrix:
    """`matrix` with the columns of `dense` after its own (stored even where zero): what
    `sp.hstack` gives, built from the CSR arrays directly: 0.14 s instead of 0.92 s for the
    25,000 IMDB test reviews, where the classifier itself takes 0.6 s."""
    rows, columns = matrix.shape
    extra = dense.shape[1]
    total = matrix.nnz + rows * extra
    wide = np.int64 if max(total, columns + extra) >= np.iinfo(np.int32).max else np.int32
    indptr = matrix.indptr.astype(wide) + np.arange(rows + 1, dtype=wide) * extra
    # Each row is its own entries, then its `extra` values: mark where those go, fill the rest
    # in order (sequential copies, no scatter of every entry).
    appended = np.zeros(total, dtype=bool)
    appended[((indptr[1:] - extra)[:, None] + np.arange(extra, dtype=wide)).ravel()] = True
    data = np.empty(total, dtype=np.float64)
    indices = np.empty(total, dtype=wide)
    data[~appended], indices[~appended] = matrix.data, matrix.indices
    data[appended] = dense.ravel()
    indices[appended] = np.tile(np.arange(columns, columns + extra, dtype=wide), rows)
    combined = sp.csr_matrix((data, indices, indptr), shape=(rows, columns + extra))
    # Appending adds no duplicate and keeps each row's order: scipy need not check again.
    combined.has_canonical_format = matrix.has_canonical_format
    combined.has_sorted_indices = matrix.has_sorted_indices
    return combined
