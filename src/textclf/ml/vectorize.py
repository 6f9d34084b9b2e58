"""Word n-gram counting in Rust: scikit-learn's CountVectorizer and TfidfVectorizer, faster.

`FastCountVectorizer` *is* a CountVectorizer (same parameters, same fitted `vocabulary_`, same
matrix, picklable); only the counting inside changes. scikit-learn's analyzer builds every n-gram
as a Python string and looks it up in a dict, one text at a time. Here polars tokenises all the
texts at once with Rust's regex engine (on every core), gives each token an integer id, and
finds each n-gram as one integer (its token ids in base T) in an integer join.

Identical results come by construction, not by luck. Whatever the fast path cannot reproduce
exactly goes through scikit-learn's own analyzer: a configuration other than plain word n-grams
(char analyzers, a preprocessor, tokenizer or stop words, accent stripping, a token pattern with
a group or flags), and, text by text, every text holding a character on which Python's `re` and
Rust's `regex` disagree: `\\w`, `\\d`, `\\s` or lower-casing (e.g. "¾" and "²" are word characters
to Python only; ASCII's separators \\x1c-\\x1f are spaces to Python only). Such texts are rare
(about 1 in 1,000 IMDB reviews) and are counted by scikit-learn, so the matrix stays the same.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

try:  # how scikit-learn >= 1.8 picks csr_matrix or csr_array for its outputs
    from sklearn.utils._sparse import _align_api_if_sparse
except ImportError:  # older scikit-learn returns csr_matrix

    def _align_api_if_sparse(X: Any) -> Any:
        return sp.csr_matrix(X)


# Classes whose members the two regex engines define differently, checked character by
# character; lower-casing is checked too. Rust's \w, \d, \s are Unicode properties, Python's
# come from str.isalnum(), isdecimal() and isspace().
CHECKED_CLASSES = (r"\w", r"\d", r"\s")
ASCII = "".join(map(chr, range(128)))
# Lower-cased by its context (final sigma): a per-character check cannot vouch for it.
CONTEXTUAL = {"\u03a3"}
# Patterns the fast path accepts: no groups but (?:...), no flags but (?u) (Unicode: both
# engines' default), and no pattern that matches nothing (the engines step over empty
# matches differently).
_GROUP_OR_FLAG = re.compile(r"\((?!\?:)")
# polars costs about 10 ms a call whatever its size; scikit-learn is faster up to ~25 texts (the
# online service's requests), so smaller calls go to it.
MIN_TEXTS = 25


class RustWordCounts:
    """Mixin over CountVectorizer (or a subclass) that replaces `_count_vocab`."""

    def _count_vocab(self, raw_documents: Iterable[Any], fixed_vocab: bool) -> tuple[dict, Any]:
        texts = list(raw_documents)
        small = fixed_vocab and len(texts) < MIN_TEXTS  # decided first: no polars on that path
        if small or not self._rust_can_count() or not all(isinstance(t, str) for t in texts):
            return super()._count_vocab(texts, fixed_vocab)  # type: ignore[misc]
        if fixed_vocab:
            index = self._index_of_vocabulary()
            if index is None:
                return super()._count_vocab(texts, fixed_vocab)  # type: ignore[misc]
            return self.vocabulary_, self._count_known(texts, index)  # type: ignore[attr-defined]
        fitted = self._count_new(texts)
        if fitted is None:
            return super()._count_vocab(texts, fixed_vocab)  # type: ignore[misc]
        return fitted

    def fit(self, raw_documents: Iterable[Any], y: Any = None) -> Any:
        super().fit(raw_documents, y)  # type: ignore[misc]
        self._index_fitted_vocabulary()
        return self

    def fit_transform(self, raw_documents: Iterable[Any], y: Any = None) -> Any:
        X = super().fit_transform(raw_documents, y)  # type: ignore[misc]
        self._index_fitted_vocabulary()
        return X

    def _index_fitted_vocabulary(self) -> None:
        # Built once here and pickled with the model: each process that loads the model (every
        # batch worker) would otherwise spend a second and ~240 MB of transient memory on it.
        # Models pickled before the index was kept build it on first use instead.
        if self._rust_can_count():
            self._index_of_vocabulary()

    # -- saved state: arrays, not a dict of 100,000 entries ------------------------------------

    def __getstate__(self) -> dict:
        # skops (ml/persist.py) writes a dict entry by entry into its JSON schema (1.5 KB each,
        # 140 MB for an IMDB model) and a numpy array as one .npy file: save the vocabulary as
        # two arrays, rebuilt into the dict on load.
        state = dict(super().__getstate__())  # type: ignore[misc]  # (may be the live __dict__)
        # scikit-learn keeps id(stop_words) only to skip a re-check; an address is not state.
        state.pop("_stop_words_id", None)
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            state["vocabulary_terms_"] = np.array(list(vocabulary), dtype=str)
            state["vocabulary_columns_"] = np.fromiter(vocabulary.values(), np.int64)
        if isinstance(state.get("_vocabulary_index"), tuple):  # (the dict it indexes, index)
            state["_vocabulary_index"] = state["_vocabulary_index"][1]
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if "vocabulary_terms_" in state:
            terms, columns = state.pop("vocabulary_terms_"), state.pop("vocabulary_columns_")
            state["vocabulary_"] = dict(zip(terms.tolist(), columns.tolist(), strict=True))
        index = state.get("_vocabulary_index")
        if index is not None and not isinstance(index, tuple):  # saved without its dict
            state["_vocabulary_index"] = (state["vocabulary_"], index)
        super().__setstate__(state)  # type: ignore[misc]

    # -- what the fast path can do -------------------------------------------------------------

    def _rust_can_count(self) -> bool:
        pattern = self.token_pattern  # type: ignore[attr-defined]
        plain_pattern = pattern.removeprefix("(?u)")
        return (
            self.analyzer == "word"  # type: ignore[attr-defined]
            and self.input == "content"  # type: ignore[attr-defined]
            and self.preprocessor is None  # type: ignore[attr-defined]
            and self.tokenizer is None  # type: ignore[attr-defined]
            and self.stop_words is None  # type: ignore[attr-defined]
            and self.strip_accents is None  # type: ignore[attr-defined]
            and not _GROUP_OR_FLAG.search(plain_pattern.replace("\\(", ""))
            and re.fullmatch(pattern, "") is None
            and _rust_accepts(pattern)
        )

    # -- transform: count the n-grams of a fitted vocabulary -----------------------------------

    def _index_of_vocabulary(self) -> _VocabularyIndex | None:
        # Cached with the dict it was built from: a refit makes a new dict, and holding the old
        # one keeps its id from being reused.
        vocabulary = self.vocabulary_  # type: ignore[attr-defined]
        cached = getattr(self, "_vocabulary_index", None)
        if cached is None or cached[0] is not vocabulary:
            cached = (vocabulary, _VocabularyIndex.build(vocabulary, self.ngram_range))  # type: ignore[attr-defined]
            self._vocabulary_index = cached
        return cached[1]

    def _count_known(self, texts: list[str], index: _VocabularyIndex) -> Any:
        import polars as pl

        tokens, odd_rows = self._tokens(texts)
        tokens = tokens.join(index.tokens, on="token", how="left", maintain_order="left").drop(
            "token"
        )
        keys = _ngram_keys(tokens, index.base, self.ngram_range)  # type: ignore[attr-defined]
        n_features = len(index.features)
        found = keys.join(index.features, on="key", how="inner")
        cells = _count_cells(found.select(pl.col("row") * n_features + pl.col("feature")))
        if odd_rows:
            odd = np.asarray(sorted(odd_rows), dtype=np.int64)
            reference = self._reference_counts([texts[row] for row in odd], self.vocabulary_)  # type: ignore[attr-defined]
            coo = reference.tocoo()
            cells = _merge_cells(cells, (odd[coo.row] * n_features + coo.col, coo.data))
        return self._matrix(cells, len(texts), n_features)

    # -- fit: find the vocabulary ----------------------------------------------------------------

    def _count_new(self, texts: list[str]) -> tuple[dict, Any] | None:
        """The vocabulary of `texts` and their counts: the vocabulary scikit-learn's
        `_count_vocab` finds, and the same matrix (entries within a row may be stored in another
        order; fit_transform's callers see the same values). N-grams in fewer texts than
        `min_df` are dropped here already when fit would drop them anyway (no `max_features`)."""
        import polars as pl

        low, high = self.ngram_range  # type: ignore[attr-defined]
        tokens, odd_rows = self._tokens(texts)
        odd_terms = self._odd_row_terms(texts, odd_rows)
        if odd_terms is None:
            return None
        names = (
            pl.concat([tokens.get_column("token"), odd_terms.get_column("token").explode()])
            .unique()
            .sort()
        )
        base = len(names)
        if base == 0 or not _fits_in_int64(base, high):
            return None  # scikit-learn raises its own error for an empty vocabulary
        ids = pl.DataFrame({"token": names, "id": np.arange(base, dtype=np.int64)})
        tokens = tokens.join(ids, on="token", how="left", maintain_order="left").drop("token")
        ngrams = _ngram_keys(tokens, base, (low, high))
        odd_keys = _term_keys(odd_terms, ids, base)
        distinct = pl.concat([ngrams.get_column("key"), odd_keys.get_column("key")]).unique().sort()
        n_distinct = len(distinct)

        def codes(frame: Any) -> Any:
            dense = distinct.search_sorted(frame.get_column("key")).cast(pl.Int64)
            return frame.get_column("row") * n_distinct + dense

        cells = _count_cells(pl.DataFrame({"code": codes(ngrams)}))
        if odd_keys.height:
            odd_cells = (codes(odd_keys).to_numpy(), odd_keys.get_column("count").to_numpy())
            cells = _merge_cells(cells, odd_cells)
        document_frequency = np.bincount(cells[0] % n_distinct, minlength=n_distinct)
        keep = np.ones(n_distinct, dtype=bool)
        if self.max_features is None and isinstance(self.min_df, int | np.integer):  # type: ignore[attr-defined]
            keep = document_frequency >= self.min_df  # type: ignore[attr-defined]
        if not keep.any():
            return None
        new_index = np.cumsum(keep) - 1
        dense = cells[0] % n_distinct
        kept = keep[dense]
        n_terms = int(keep.sum())
        cells = ((cells[0][kept] // n_distinct) * n_terms + new_index[dense[kept]], cells[1][kept])
        terms = _decode(distinct.to_numpy()[keep], names, base, high)
        vocabulary = dict(zip(terms, range(n_terms), strict=True))
        return vocabulary, self._matrix(cells, len(texts), n_terms)

    def _odd_row_terms(self, texts: list[str], odd_rows: set[int]) -> Any:
        """(`row`, `term`, `count`, `token`: the term split at spaces) of the rows scikit-learn
        analyses; None when a term cannot be written as token ids (an edge or doubled space, or
        more parts than the longest n-gram)."""
        import polars as pl

        analyze = CountVectorizer(**_count_params(self)).build_analyzer()
        pairs = [(row, term) for row in sorted(odd_rows) for term in analyze(texts[row])]
        frame = pl.DataFrame(
            {"row": [row for row, _ in pairs], "term": [term for _, term in pairs]},
            schema={"row": pl.Int64, "term": pl.String},
        )
        frame = frame.group_by("row", "term").agg(pl.len().cast(pl.Int64).alias("count"))
        frame = frame.with_columns(token=pl.col("term").str.split(" "))
        parts = frame.get_column("token").list
        bad = (parts.len() > self.ngram_range[1]) | parts.contains("")  # type: ignore[attr-defined]
        return None if bad.any() else frame

    # -- shared ------------------------------------------------------------------------------

    def _tokens(self, texts: list[str]) -> tuple[Any, set[int]]:
        """One row per token (`row`, `token`) in text order, and the rows that must go through
        scikit-learn: those holding a character the engines disagree on, or a token with a
        space (an n-gram of it would be ambiguous)."""
        import polars as pl

        original = pl.Series("text", texts, dtype=pl.String)
        series = original.str.to_lowercase() if self.lowercase else original  # type: ignore[attr-defined]
        found = series.str.extract_all(self.token_pattern)  # type: ignore[attr-defined]
        frame = pl.DataFrame({"row": np.arange(len(texts), dtype=np.int64), "token": found})
        odd = _rows_with_disputed_characters(original)
        tokens = frame.explode("token").drop_nulls("token")
        spaced = tokens.filter(pl.col("token").str.contains(" ", literal=True))
        odd |= set(spaced.get_column("row").unique().to_list())
        if odd:
            tokens = tokens.filter(~pl.col("row").is_in(sorted(odd)))
        return tokens, odd

    def _matrix(self, cells: tuple[np.ndarray, np.ndarray], n_rows: int, n_columns: int) -> Any:
        """The CSR matrix scikit-learn's `_count_vocab` returns (int32 indices unless it needs
        int64, `self.dtype` values) from cells (row * n_columns + column, count), sorted."""
        codes, counts = cells
        rows, columns = np.divmod(codes, n_columns)
        indices_dtype = np.int32 if len(codes) <= np.iinfo(np.int32).max else np.int64
        indptr = np.zeros(n_rows + 1, dtype=indices_dtype)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        X = sp.csr_array(
            (counts.astype(np.intc), columns.astype(indices_dtype), indptr),
            shape=(n_rows, n_columns),
            dtype=self.dtype,  # type: ignore[attr-defined]
        )
        X.sort_indices()
        return _align_api_if_sparse(X)

    def _reference_counts(self, texts: list[str], vocabulary: dict) -> Any:
        reference = CountVectorizer(**_count_params(self))
        reference.vocabulary_ = vocabulary
        return reference._count_vocab(texts, fixed_vocab=True)[1]


def _count_cells(codes: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct codes (the frame's one column) and how often each occurs."""
    import polars as pl

    column = codes.columns[0]
    runs = codes.sort(column).select(pl.col(column).rle()).unnest(column)
    return runs.get_column("value").to_numpy(), runs.get_column("len").to_numpy()


def _merge_cells(
    cells: tuple[np.ndarray, np.ndarray], more: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of cells from different rows, as one sorted set."""
    codes = np.concatenate([cells[0], more[0]])
    order = np.argsort(codes, kind="stable")
    return codes[order], np.concatenate([cells[1], more[1]])[order]


class FastCountVectorizer(RustWordCounts, CountVectorizer):
    """CountVectorizer with word n-grams counted in Rust (module docstring)."""


class FastTfidfVectorizer(RustWordCounts, TfidfVectorizer):
    """TfidfVectorizer with word n-grams counted in Rust (module docstring)."""


def _as_list(values: Any) -> list:
    """A saved array of strings (a list in older pickles) as a list of str."""
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _count_params(vectorizer: Any) -> dict:
    names = CountVectorizer().get_params()
    return {name: value for name, value in vectorizer.get_params().items() if name in names}


class _VocabularyIndex:
    """A fitted vocabulary as integers: an id per token, and a key per n-gram."""

    def __init__(self, tokens: Any, features: Any, base: int) -> None:
        self._frames = (tokens, features)  # token -> id; key -> feature (column of the matrix)
        self._saved: dict | None = None
        self.base = base

    @property
    def tokens(self) -> Any:
        return self._built()[0]

    @property
    def features(self) -> Any:
        return self._built()[1]

    def _built(self) -> tuple[Any, Any]:
        # Frames are made on first use, not at unpickling: loading a model (the online service,
        # a small `textclf predict`) does not import polars when scikit-learn counts instead.
        if self._frames is None:
            import polars as pl

            saved = self._saved
            names = _as_list(saved["token_names"])  # type: ignore[index]
            tokens = pl.DataFrame(
                {"token": names, "id": np.arange(len(names), dtype=np.int64)},
                schema={"token": pl.String, "id": pl.Int64},
            )
            features = pl.DataFrame(
                {"key": saved["keys"], "feature": saved["features"]},  # type: ignore[index]
                schema={"key": pl.Int64, "feature": pl.Int64},
            )
            self._frames = (tokens, features)
        return self._frames

    def __getstate__(self) -> dict:
        # Plain lists and arrays, not polars' own pickles: a model must load under later polars.
        if self._saved is not None:  # token names: an array (skops writes a list item by item)
            return {**self._saved, "token_names": np.asarray(self._saved["token_names"], dtype=str)}
        tokens, features = self._frames
        return {
            "token_names": tokens.get_column("token").to_numpy().astype(str),
            "keys": features.get_column("key").to_numpy(),
            "features": features.get_column("feature").to_numpy(),
            "base": self.base,
        }

    def __setstate__(self, state: dict) -> None:
        self._frames, self._saved, self.base = None, state, state["base"]

    @classmethod
    def build(cls, vocabulary: dict, ngram_range: tuple[int, int]) -> _VocabularyIndex | None:
        import polars as pl

        terms = pl.DataFrame(
            {"term": list(vocabulary), "feature": np.fromiter(vocabulary.values(), np.int64)}
        )
        parts = terms.with_columns(token=pl.col("term").str.split(" "))
        sizes = parts.get_column("token").list.len()
        low, high = ngram_range
        if ((sizes < low) | (sizes > high)).any():
            return None  # a term that is not an n-gram of the range: not ours to encode
        if parts.get_column("token").list.contains("").any():
            return None  # a term with a doubled or edge space
        names = parts.get_column("token").explode().unique().sort()
        base = len(names)
        if not _fits_in_int64(base, high):
            return None
        tokens = pl.DataFrame({"token": names, "id": np.arange(base, dtype=np.int64)})
        features = _term_keys(parts, tokens, base).select("key", "feature")
        return cls(tokens, features, base)


def _term_keys(terms: Any, ids: Any, base: int) -> Any:
    """`terms` with the key `_ngram_keys` gives each term (its `token` column: the term split
    at spaces, every part in `ids`) in place of `token`."""
    import polars as pl

    sizes = terms.get_column("token").list.len()
    high = int(sizes.max() or 1)
    key = pl.lit(0, dtype=pl.Int64)
    parts = {}
    for k in range(high):
        part = terms.select(pl.col("token").list.get(k, null_on_oob=True))
        parts[f"id{k}"] = part.join(ids, on="token", how="left", maintain_order="left")["id"]
        # Horner's rule over the term's own parts: k < n adds a digit, past its end nothing.
        key = pl.when(pl.col("n") > k).then(key * base + pl.col(f"id{k}")).otherwise(key)
    offsets = {n: _offset(base, n) for n in range(1, high + 1)}
    offset = pl.col("n").replace_strict(offsets, return_dtype=pl.Int64)
    return (
        terms.with_columns(n=sizes, **parts)
        .with_columns(key=key + offset)
        .drop("token", "n", *parts)
    )


def _ngram_keys(tokens: Any, base: int, ngram_range: tuple[int, int]) -> Any:
    """(`row`, `key`) for every n-gram of every row, n in `ngram_range`; an n-gram with a token
    outside the index (a null id) gets no key."""
    import polars as pl

    low, high = ngram_range
    frames = []
    for n in range(low, high + 1):
        key = pl.lit(0, dtype=pl.Int64)
        for k in range(n):
            key = key * base + pl.col("id").shift(-k)
        same_row = pl.col("row").shift(-(n - 1)) == pl.col("row")
        frames.append(
            tokens.select(
                "row", key=pl.when(same_row).then(key + _offset(base, n)).otherwise(None)
            ).drop_nulls("key")
        )
    return pl.concat(frames)


def _offset(base: int, n: int) -> int:
    """Keys of n-grams start after those of shorter n-grams: base + base**2 + ... + base**(n-1)."""
    return sum(base**m for m in range(1, n))


def _fits_in_int64(base: int, max_n: int) -> bool:
    return max_n < 10 and _offset(base, max_n + 1) < 2**63


def _decode(keys: np.ndarray, names: Any, base: int, high: int) -> list[str]:
    """The n-gram strings of `keys` (as `_ngram_keys` made them), in their order."""
    import polars as pl

    sizes = np.zeros(len(keys), dtype=np.int64)
    for n in range(1, high + 1):
        sizes[keys >= _offset(base, n)] = n
    offsets = np.array([_offset(base, n) for n in range(high + 1)], dtype=np.int64)
    remainder = keys - offsets[sizes]
    token_names = names.to_numpy()
    terms = np.empty(len(keys), dtype=object)
    for n in range(1, high + 1):
        selected = sizes == n
        value = remainder[selected]
        digits = []
        for _ in range(n):
            digits.append(value % base)
            value = value // base
        words = pl.DataFrame(
            {f"w{k}": token_names[digit] for k, digit in enumerate(reversed(digits))},
            schema={f"w{k}": pl.String for k in range(n)},
        )
        terms[selected] = words.select(pl.concat_str(pl.all(), separator=" ")).to_series()
    return terms.tolist()


@functools.lru_cache(maxsize=64)
def _rust_accepts(pattern: str) -> bool:
    import polars as pl

    try:
        pl.Series([""]).str.extract_all(pattern)
    except Exception:  # polars reports a pattern Rust's regex cannot compile in several ways
        return False
    return True


# Characters checked so far: True when Python and Rust treat them alike.
_AGREES: dict[str, bool] = {}


def _rows_with_disputed_characters(texts: Any) -> set[int]:

    unseen = set(ASCII) - _AGREES.keys()
    non_ascii = texts.str.extract_all(r"[^\x00-\x7F]").explode().drop_nulls().unique()
    unseen |= set(non_ascii.to_list()) - _AGREES.keys()
    if unseen:
        _check_characters(sorted(unseen))
    disputed = [char for char, agrees in _AGREES.items() if not agrees]
    if not disputed:
        return set()
    pattern = "[" + "".join(_class_member(char) for char in disputed) + "]"
    hits = texts.str.contains(pattern)
    return set(np.flatnonzero(hits.fill_null(False).to_numpy()).tolist())


def _check_characters(chars: list[str]) -> None:
    """Record for each character whether both engines lower-case it alike and put it and its
    lower-case form in the same classes (a text is tokenised after lower-casing)."""
    import polars as pl

    lowered = {low for char in chars for low in char.lower()}
    every = sorted(set(chars) | lowered)
    series = pl.Series(every, dtype=pl.String)
    rust_lower = series.str.to_lowercase().to_list()
    rust_classes = [series.str.contains(f"^{cls}$").to_list() for cls in CHECKED_CLASSES]
    alike = {
        char: rust_lower[i] == char.lower()
        and all(
            bool(re.fullmatch(cls, char)) == rust[i]
            for cls, rust in zip(CHECKED_CLASSES, rust_classes, strict=True)
        )
        for i, char in enumerate(every)
    }
    for char in every:
        _AGREES[char] = (
            char not in CONTEXTUAL and alike[char] and all(alike[low] for low in char.lower())
        )


def _class_member(char: str) -> str:
    return f"\\x{{{ord(char):x}}}"
