"""Word vectors from unlabelled text: what they learn, the features made from them, and the
model that carries them (fit, pickle, the unlabelled texts reaching the vectors)."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tests.conftest import NEGATIVE, POSITIVE, REPO_PARAMS, make
from textclf.core.errors import ParamsError
from textclf.core.params import PrepareParams, TrainParams, WordVectorParams
from textclf.ml.model import build_pipeline, word_vectors_for
from textclf.ml.nb_weighting import NBWeightedClassifier, log_count_ratio
from textclf.ml.vectorize import FastCountVectorizer
from textclf.ml.word_vectors import (
    NgramsAndWordVectors,
    WordVectors,
    append_dense_columns,
    learn_word_vectors,
)
from textclf.pipeline.train import train

PATTERN = r"(?u)\b\w+\b"
# Two topics that never share a sentence: words co-occur only within their own topic.
ANIMALS = ["cat", "dog", "horse", "cow", "sheep", "goat"]
WEATHER = ["rain", "snow", "wind", "storm", "fog", "hail"]


def topic_texts(seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(topic, size=8)) for _ in range(300) for topic in (ANIMALS, WEATHER)]


def learn(texts: list[str], words: int = 12, dims: int = 2, seed: int = 0) -> WordVectors:
    return learn_word_vectors(texts, PATTERN, True, words, window=3, dims=dims, seed=seed)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_words_that_share_contexts_get_similar_vectors() -> None:
    vectors = learn(topic_texts())
    assert sorted(vectors.words) == sorted(ANIMALS + WEATHER)
    assert vectors.vectors.shape == (12, 2) and vectors.vectors.dtype == np.float32
    assert repr(vectors) == "WordVectors(12 words x 2)"
    of = dict(zip(vectors.words, vectors.vectors, strict=True))
    same = [cosine(of[a], of[b]) for a in ANIMALS for b in ANIMALS if a < b]
    across = [cosine(of[a], of[w]) for a in ANIMALS for w in WEATHER]
    assert min(same) > 0.9 and max(across) < 0.1


def test_the_most_frequent_words_are_kept_ties_by_the_word() -> None:
    texts = ["b a a c c d", "a c e e b"]  # a 3, c 3, b 2, e 2, d 1
    vectors = learn_word_vectors(texts, PATTERN, True, 4, window=2, dims=1, seed=0)
    assert vectors.words == ["a", "c", "b", "e"]


def test_the_same_texts_give_the_same_vectors_and_case_follows_the_vectoriser() -> None:
    texts = topic_texts()
    np.testing.assert_array_equal(learn(texts).vectors, learn(texts).vectors)
    shouted = [text.upper() for text in texts]
    assert learn(shouted).words == learn(texts).words  # lower-cased, as the vectoriser does
    kept = learn_word_vectors(shouted, PATTERN, False, 12, window=3, dims=2, seed=0)
    assert set(kept.words) == {word.upper() for word in ANIMALS + WEATHER}


def test_too_few_words_for_the_dimensions_is_a_params_error() -> None:
    with pytest.raises(ParamsError) as error:
        learn(["just four words here"], words=10, dims=8)
    assert error.value.field == "train.word_vectors.dims"
    assert "4 distinct words" in str(error.value) and "lower" in error.value.fix


def features(vectors: WordVectors, scale: float = 2.0) -> NgramsAndWordVectors:
    return NgramsAndWordVectors(FastCountVectorizer(ngram_range=(1, 2)), vectors, scale)


def test_features_are_the_ngrams_then_the_scaled_sum_of_word_vectors() -> None:
    texts = topic_texts()
    vectors = learn(texts)
    step = features(vectors)
    matrix = step.fit_transform(texts[:40])
    ngrams = FastCountVectorizer(ngram_range=(1, 2)).fit(texts[:40])
    n = len(ngrams.vocabulary_)
    assert step.vocabulary_ == ngrams.vocabulary_ and matrix.shape == (40, n + 2)
    new = ["cat cat rain", "nothing known here", "dog"]
    got = step.transform(new).toarray()
    np.testing.assert_array_equal(got[:, :n], ngrams.transform(new).toarray())
    of = dict(zip(vectors.words, vectors.vectors.astype(np.float64), strict=True))
    sums = [2 * of["cat"] + of["rain"], np.zeros(2), of["dog"]]
    # divided by the sums' mean length over the fitted texts, times the scale
    training = [sum(of[w] for w in text.split()) for text in texts[:40]]
    typical = np.mean([np.linalg.norm(s) for s in training])
    np.testing.assert_allclose(got[:, n:], np.array(sums) / typical * 2.0, rtol=1e-5)


def test_a_longer_text_gets_a_longer_vector() -> None:
    """Unit-length vectors let one word of a short text swing the prediction."""
    texts = topic_texts()
    step = features(learn(texts))
    step.fit(texts)
    short, long = step.transform(["cat dog", "cat dog " * 10]).toarray()[:, -2:]
    assert np.linalg.norm(long) == pytest.approx(10 * np.linalg.norm(short), rel=1e-5)


def test_the_step_pickles_and_needs_a_vocabulary() -> None:
    texts = topic_texts()
    step = features(learn(texts)).fit(texts)
    again = pickle.loads(pickle.dumps(step))
    assert (again.transform(texts[:5]) != step.transform(texts[:5])).nnz == 0
    from sklearn.feature_extraction.text import HashingVectorizer

    with pytest.raises(ValueError, match="HashingVectorizer has none"):
        NgramsAndWordVectors(HashingVectorizer(), learn(texts), 1.0).fit(texts)


def test_nb_weighting_leaves_the_appended_columns_unweighted() -> None:
    rng = np.random.default_rng(0)
    counts = sp.csr_matrix(rng.poisson(1.0, size=(40, 6)).astype(float))
    dense = rng.normal(size=(40, 3))  # negative values: never part of a count ratio
    labels = np.array(["pos", "neg"] * 20)
    model = NBWeightedClassifier(_logreg(), unweighted_columns=3)
    model.fit(sp.hstack([counts, sp.csr_matrix(dense)]).tocsr(), labels)
    expected = log_count_ratio(counts, labels == "pos", model.alpha)
    np.testing.assert_allclose(model.ratios_[0][:6], expected)
    np.testing.assert_array_equal(model.ratios_[0][6:], 1.0)
    with pytest.raises(ValueError, match="fewer than the 9 unweighted"):
        NBWeightedClassifier(_logreg(), unweighted_columns=9).fit(counts, labels)


def _logreg():  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0)


def small_vectors(**overrides: object) -> TrainParams:
    options = {"words": 50, "window": 3, "dims": 4, "scale": 8.0, **overrides}
    return make(
        TrainParams,
        vectorizer={"kind": "tfidf", "ngram_range": [1, 2]},
        word_vectors=WordVectorParams(**options),  # type: ignore[arg-type]
    )


def test_build_pipeline_takes_word_vectors_exactly_when_params_ask() -> None:
    params, prepare = small_vectors(), make(PrepareParams)
    texts = POSITIVE * 3 + NEGATIVE * 3
    vectors = word_vectors_for(params, texts)
    assert vectors is not None and vectors.dims == 4
    model = build_pipeline(params, prepare, vectors)
    assert isinstance(model.named_steps["vectorize"], NgramsAndWordVectors)
    assert model.named_steps["classify"].unweighted_columns == 4
    model.fit(texts, ["pos"] * 12 + ["neg"] * 12)
    assert list(model.predict([POSITIVE[0], NEGATIVE[0]])) == ["pos", "neg"]
    with pytest.raises(ValueError, match=r"exactly when train\.word_vectors is set"):
        build_pipeline(params, prepare)
    with pytest.raises(ValueError, match=r"exactly when train\.word_vectors is set"):
        build_pipeline(make(TrainParams, word_vectors=None), prepare, vectors)
    hashing = small_vectors()
    hashing = make(TrainParams, vectorizer={"kind": "hashing"}, word_vectors=hashing.word_vectors)
    with pytest.raises(ParamsError) as error:
        word_vectors_for(hashing, texts)
    assert error.value.field == "train.word_vectors" and "hashing" in str(error.value)


def test_training_learns_the_vectors_from_the_unlabelled_texts_too() -> None:
    """A word that only unlabelled reviews hold gets a vector; they are normalised first."""
    train_params = dataclasses.replace(small_vectors(words=200), calibration="none")
    params = dataclasses.replace(REPO_PARAMS, train=train_params)
    labelled = pd.DataFrame(
        {"text": POSITIVE * 3 + NEGATIVE * 3, "label": ["pos"] * 12 + ["neg"] * 12}
    )
    unlabelled = ["Zyzzyva, <b>zyzzyva</b> again, zyzzyva!"] * 5
    trained = train(labelled[::2], labelled[1::2], params, unlabelled)
    step = trained.model.named_steps["vectorize"]
    assert "zyzzyva" in step.word_vectors.words and "b" not in step.word_vectors.words
    assert trained.stats["word_vectors"] == {"words": len(step.word_vectors.words), "dims": 4}
    assert trained.stats["n_features"] == len(step.vocabulary_) + 4
    without = train(labelled[::2], labelled[1::2], params)
    assert "zyzzyva" not in without.model.named_steps["vectorize"].word_vectors.words


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_appended_columns_are_what_hstack_gives(rows: int) -> None:
    rng = np.random.default_rng(rows)
    values = rng.poisson(0.5, size=(rows, 9)).astype(float)
    values[:1] = 0  # an empty row
    matrix = sp.csr_matrix(values)
    dense = rng.normal(size=(rows, 3))
    got = append_dense_columns(sp.csr_matrix(matrix), dense)
    np.testing.assert_array_equal(got.toarray(), sp.hstack([matrix, dense]).toarray())
    assert got.shape == (rows, 12) and got.has_sorted_indices


def test_the_step_splits_words_as_its_ngram_vectoriser() -> None:
    """Monitoring counts out-of-vocabulary words with the vectorize step's tokenizer."""
    texts = topic_texts()
    step = features(learn(texts)).fit(texts)
    assert step.build_tokenizer()("Cat, DOG and rain!") == ["Cat", "DOG", "and", "rain"]
