"""The Rust-counted vectorisers give scikit-learn's features exactly: vocabulary and matrix."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import skops.io as sio
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from textclf.ml import vectorize
from textclf.ml.persist import model_bytes, trusted_types
from textclf.ml.vectorize import FastCountVectorizer, FastTfidfVectorizer

PATTERN = r"(?u)\b\w+\b|[!?]"  # params.yaml's
TRICKY = [
    "A great film! Really? I'd say 10/10.",
    "",
    "!!! ??? ...",
    "the the the the film film",
    "¾ of it was good, x² better",  # word characters to Python only
    "ΣΊΣΥΦΟΣ and ΟΔΟΣ",  # final sigma when lower-cased
    "İstanbul KELVIN K",  # lower-casing that changes length; the Kelvin sign
    "fields\x1cseparated\x1fby\x1econtrol",  # spaces to Python only
    "日本語のテキスト and émigré café naïve",
    "tab\tnew\nline  double  space",
    "a b c d e f g a b c",
]


@pytest.fixture(autouse=True)
def rust_for_every_call(monkeypatch):
    monkeypatch.setattr(vectorize, "MIN_TEXTS", 1)


def same_matrix(reference, fast) -> None:
    assert type(reference) is type(fast)
    assert reference.shape == fast.shape and reference.dtype == fast.dtype
    assert np.array_equal(reference.indptr, fast.indptr)
    assert np.array_equal(reference.indices, fast.indices)
    assert reference.indices.dtype == fast.indices.dtype
    assert np.array_equal(reference.data, fast.data)


def fit_both(texts, cls=CountVectorizer, fast_cls=FastCountVectorizer, **options):
    options = {"token_pattern": PATTERN, **options}
    return cls(**options).fit(texts), fast_cls(**options).fit(texts)


@pytest.mark.parametrize(
    "options",
    [
        {"ngram_range": (1, 3), "binary": True},
        {"ngram_range": (1, 1)},
        {"ngram_range": (2, 3), "lowercase": False},
        {"ngram_range": (1, 2), "min_df": 2},
        {"ngram_range": (1, 2), "min_df": 0.1, "max_df": 0.9},
        {"ngram_range": (1, 2), "max_features": 7},
        {"ngram_range": (1, 3), "token_pattern": r"\S+"},
    ],
)
def test_same_vocabulary_and_matrix_as_scikit_learn(options) -> None:
    reference, fast = fit_both(TRICKY * 2, **options)
    assert fast.vocabulary_ == reference.vocabulary_
    same_matrix(reference.transform(TRICKY), fast.transform(TRICKY))
    # fit_transform: the same entries; scikit-learn's relabelling of columns after sorting the
    # vocabulary leaves each row's entries in an order that depends on how they were found.
    options = {"token_pattern": PATTERN, **options}
    same_matrix(
        CountVectorizer(**options).fit_transform(TRICKY * 2).sorted_indices(),
        FastCountVectorizer(**options).fit_transform(TRICKY * 2).sorted_indices(),
    )


def test_disputed_characters_are_found_and_counted_by_scikit_learn() -> None:
    rows = vectorize._rows_with_disputed_characters(__import__("polars").Series(TRICKY))
    # ¾ and ² (Python: word characters), the final sigma, İ and K (lower-casing), \x1c-\x1f
    assert rows == {4, 5, 6, 7}
    reference, fast = fit_both(TRICKY[:4], ngram_range=(1, 2))
    same_matrix(reference.transform(TRICKY), fast.transform(TRICKY))


def test_tfidf_variant_matches() -> None:
    reference, fast = fit_both(
        TRICKY, TfidfVectorizer, FastTfidfVectorizer, ngram_range=(1, 2), sublinear_tf=True
    )
    assert fast.vocabulary_ == reference.vocabulary_
    a, b = reference.transform(TRICKY), fast.transform(TRICKY)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data)


@pytest.mark.parametrize(
    "options",
    [
        {"analyzer": "char_wb", "ngram_range": (2, 4)},
        {"stop_words": ["the", "a"]},
        {"strip_accents": "unicode"},
        {"token_pattern": r"(\w+)"},  # a group: scikit-learn keeps the group, not the match
        {"token_pattern": r"(?i)\w+"},  # flags: not ours to translate
        {"token_pattern": r"\w*"},  # matches nothing: the engines step over that differently
    ],
)
def test_what_the_fast_path_cannot_do_is_left_to_scikit_learn(options) -> None:
    fast = FastCountVectorizer(**{"token_pattern": PATTERN, **options})
    assert not fast._rust_can_count()
    reference, fast = fit_both(TRICKY, **options)
    assert fast.vocabulary_ == reference.vocabulary_
    same_matrix(reference.transform(TRICKY), fast.transform(TRICKY))


def test_the_index_is_built_at_fit_pickled_with_it_and_renewed_by_a_refit() -> None:
    fast = FastCountVectorizer(token_pattern=PATTERN, ngram_range=(1, 2)).fit(TRICKY[:3])
    assert fast._vocabulary_index[0] is fast.vocabulary_  # built at fit, not at first use
    restored = sio.loads(model_bytes(fast), trusted=sorted(trusted_types()))  # a model file
    assert restored._vocabulary_index[0] is restored.vocabulary_  # so it is not rebuilt
    assert model_bytes(restored) == model_bytes(fast)
    same_matrix(fast.transform(TRICKY), restored.transform(TRICKY))
    # A model saved before the index was kept builds it on first use.
    older = pickle.loads(pickle.dumps(fast))
    del older._vocabulary_index
    same_matrix(fast.transform(TRICKY), older.transform(TRICKY))
    assert older._vocabulary_index[0] is older.vocabulary_
    # A refit must not count with the old vocabulary's index.
    fast.fit(TRICKY[8:])
    reference = CountVectorizer(token_pattern=PATTERN, ngram_range=(1, 2)).fit(TRICKY[8:])
    same_matrix(reference.transform(TRICKY), fast.transform(TRICKY))


def test_tfidf_fit_and_fit_transform_keep_the_index() -> None:
    for fitted in (
        FastTfidfVectorizer(token_pattern=PATTERN).fit(TRICKY),
        _fitted_by_fit_transform(FastTfidfVectorizer(token_pattern=PATTERN)),
    ):
        assert fitted._vocabulary_index[0] is fitted.vocabulary_


def _fitted_by_fit_transform(vectorizer):
    vectorizer.fit_transform(TRICKY)
    return vectorizer


def test_fit_takes_the_fast_path_odd_rows_included() -> None:
    fast = FastCountVectorizer(token_pattern=PATTERN, ngram_range=(1, 3))
    assert fast._count_new(TRICKY) is not None


def test_small_calls_go_to_scikit_learn(monkeypatch) -> None:
    monkeypatch.setattr(vectorize, "MIN_TEXTS", 25)
    reference, fast = fit_both(TRICKY)
    del fast._vocabulary_index  # as in a model pickled before fit kept it
    same_matrix(reference.transform(TRICKY[:3]), fast.transform(TRICKY[:3]))
    assert getattr(fast, "_vocabulary_index", None) is None  # the index was never needed


def test_non_string_input_goes_to_scikit_learn() -> None:
    reference, fast = fit_both(TRICKY)
    documents = [text.encode() for text in TRICKY]
    same_matrix(reference.transform(documents), fast.transform(documents))


WORDS = st.sampled_from(["good", "bad", "film", "not", "!", "?", "x", "ΟΔΟΣ", "¾", "İ", " "])
TEXTS = st.lists(
    st.one_of(st.lists(WORDS, max_size=12).map(" ".join), st.text(max_size=30)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(train=TEXTS, test=TEXTS, high=st.integers(1, 3), binary=st.booleans())
@example(train=["a"], test=["\x1c"], high=1, binary=False)
def test_any_texts(train, test, high, binary) -> None:
    options = {"token_pattern": PATTERN, "ngram_range": (1, high), "binary": binary}
    try:
        reference = CountVectorizer(**options).fit(train)
    except ValueError as error:  # an empty vocabulary: the fast one must say the same
        with pytest.raises(ValueError, match=str(error)[:20]):
            FastCountVectorizer(**options).fit(train)
        return
    fast = FastCountVectorizer(**options).fit(train)
    assert fast.vocabulary_ == reference.vocabulary_
    same_matrix(reference.transform(test), fast.transform(test))
    same_matrix(
        CountVectorizer(**options).fit_transform(train).sorted_indices(),
        FastCountVectorizer(**options).fit_transform(train).sorted_indices(),
    )


def test_loading_a_model_does_not_import_polars(tmp_path) -> None:
    """The online service loads models and counts with scikit-learn: polars (about a second
    to import) is imported only when the fast path first runs."""
    import subprocess
    import sys

    fitted = FastCountVectorizer(token_pattern=PATTERN, ngram_range=(1, 2)).fit(TRICKY)
    (tmp_path / "vectorizer.pkl").write_bytes(pickle.dumps(fitted))
    check = (
        "import pickle, sys; v = pickle.load(open(sys.argv[1], 'rb')); "
        "print('polars' in sys.modules); v.transform(['a text'] * 30); "
        "print('polars' in sys.modules)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", check, str(tmp_path / "vectorizer.pkl")],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert shown == ["False", "True"]
