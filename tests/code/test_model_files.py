"""Model files are data (ml/persist.py): a crafted, broken or foreign file is refused with a
DataError that names it, and nothing in it runs."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from textclf.core.errors import DataError
from textclf.ml.persist import load_model_file, model_bytes, save_model, trusted_types
from textclf.ml.vectorize import FastTfidfVectorizer

TEXTS = [f"{word} film number {i}" for i in range(40) for word in ("great", "awful")]
LABELS = ["pos", "neg"] * 40


class RunsACommand:
    """What a crafted pickle carries: unpickling it calls os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


class NotOurs:
    """A class outside the trusted modules, with classifier-like attributes."""

    classes_ = np.array(["neg", "pos"])


@pytest.fixture(scope="module")
def pipeline():  # type: ignore[no-untyped-def]
    return make_pipeline(FastTfidfVectorizer(), LogisticRegression()).fit(TEXTS, LABELS)


def test_a_saved_model_loads_back_and_scores_the_same(pipeline, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    save_model(pipeline, path)
    loaded = load_model_file(path)
    np.testing.assert_array_equal(
        loaded.pipeline.predict_proba(TEXTS), pipeline.predict_proba(TEXTS)
    )
    assert loaded.classes == ["neg", "pos"]


def test_the_same_model_gives_the_same_bytes(pipeline) -> None:
    """DVC sees the same model: skops' memory addresses and the archive's times are gone."""
    assert model_bytes(pipeline) == model_bytes(pipeline)
    with zipfile.ZipFile(io.BytesIO(model_bytes(pipeline))) as archive:
        arrays = [name for name in archive.namelist() if name != "schema.json"]
    assert arrays and all(name.startswith("array-") for name in arrays)


def test_a_crafted_pickle_is_refused_before_a_byte_is_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for name in ("evil.joblib", "model.skops"):  # the name does not matter, the bytes do
        path = tmp_path / name
        joblib.dump(RunsACommand(marker), path)
        with pytest.raises(DataError, match=r"a pickle .joblib. model: loading one runs any code"):
            load_model_file(path)
    assert not marker.exists()


def test_a_skops_file_naming_a_foreign_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps(NotOurs()))
    with pytest.raises(DataError, match=r"names types textclf does not trust: .*NotOurs"):
        load_model_file(path)


def test_a_function_in_a_skops_file_is_refused(tmp_path: Path) -> None:
    """skops can store a function by name: os.system is no type of ours."""
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps({"call": os.system}))
    with pytest.raises(DataError, match=r"does not trust: .*system"):
        load_model_file(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the model file is empty"),
        (b"not a model at all", "not a model file"),
        ("truncated", "the model file is damaged"),
        ("dict", "not a fitted text classifier"),
        ("unfitted", "the model cannot score a text"),
    ],
)
def test_a_broken_model_file_is_one_clear_error(
    pipeline, tmp_path: Path, content, message: str
) -> None:
    path = tmp_path / "model.skops"
    if content == "truncated":
        whole = model_bytes(pipeline)
        path.write_bytes(whole[: len(whole) // 2])
    elif content == "dict":
        path.write_bytes(sio.dumps({"classes_": [0, 1]}))
    elif content == "unfitted":
        # A classifier that cannot score: fitted attributes claimed, vectoriser unfitted.
        broken = make_pipeline(FastTfidfVectorizer(), LogisticRegression())
        broken.steps[-1][1].classes_ = np.array(["neg", "pos"])
        path.write_bytes(model_bytes(broken))
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as raised:
        load_model_file(path)
    assert str(path) in str(raised.value)


def test_trusted_types_come_from_the_code_not_from_files() -> None:
    names = trusted_types()
    assert "textclf.ml.model.TextNormalizer" in names
    assert "textclf.ml.vectorize.FastTfidfVectorizer" in names
    # what the trusted modules import is not theirs to vouch for
    assert not any(name.endswith((".Path", ".Any", ".BaseEstimator")) for name in names)
