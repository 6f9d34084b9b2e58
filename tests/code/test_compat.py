"""Models saved before the package moved to subpackages still load and predict the same; and a
pickle (all models of textclf 0.2 and earlier) reaches the CLI only through `convert-model`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from tests.conftest import REPO_ROOT
from textclf.registry.convert import load_trusted_pickle

FIXTURE = REPO_ROOT / "tests/fixtures/model-0.1.joblib"
EXPECTED = json.loads((REPO_ROOT / "tests/fixtures/model-0.1.json").read_text())


def test_a_model_saved_by_0_1_names_the_old_modules() -> None:
    pickled = FIXTURE.read_bytes()
    for old in (b"textclf.model", b"textclf.nb", b"textclf.text"):
        assert old in pickled


def test_it_loads_and_predicts_what_it_predicted_then() -> None:
    model = load_trusted_pickle(FIXTURE)
    assert list(model.classes_) == EXPECTED["classes"]
    np.testing.assert_allclose(model.predict_proba(EXPECTED["texts"]), EXPECTED["proba"], atol=1e-7)
    assert type(model.named_steps["normalize"]).__module__ == "textclf.ml.model"


def test_the_cli_refuses_the_pickle_and_names_the_conversion(tmp_path: Path) -> None:
    result = _textclf("predict", "--model", str(FIXTURE), *EXPECTED["texts"])
    assert result.returncode == 2
    assert "a pickle (joblib) model: loading one runs any code it carries" in result.stderr
    assert f"textclf convert-model {FIXTURE}" in result.stderr
    assert "Traceback" not in result.stderr


def test_once_converted_it_predicts_what_it_predicted_then(tmp_path: Path) -> None:
    """The old names resolve on first import (a fresh process), and the skops file it becomes
    gives the same probabilities."""
    old = tmp_path / "model-0.1.joblib"
    shutil.copy(FIXTURE, old)
    converted = _textclf("convert-model", str(old))
    assert converted.returncode == 0, converted.stderr
    assert json.loads(converted.stdout)["model"] == str(tmp_path / "model-0.1.skops")
    result = _textclf("predict", "--model", str(tmp_path / "model-0.1.skops"), *EXPECTED["texts"])
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    np.testing.assert_allclose(
        [answer["confidence"] for answer in answers],
        np.max(EXPECTED["proba"], axis=1),
        atol=1e-7,
    )
    again = _textclf("convert-model", str(old))
    assert again.returncode == 2 and "already exists" in again.stderr


def _textclf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["textclf", *args], capture_output=True, text=True)


def test_its_classifier_reads_as_not_interpolated() -> None:
    """NB interpolation came later: an old classifier has no attribute for it, and must still
    show its params (repr, clone) and predict as before."""
    classifier = load_trusted_pickle(FIXTURE).named_steps["classify"]
    classifier = getattr(classifier, "estimator", classifier)  # calibrated or not
    if hasattr(classifier, "alpha"):
        assert "interpolation" not in vars(classifier)
        assert classifier.get_params()["interpolation"] is None
        assert classifier.get_params()["unweighted_columns"] == 0  # word vectors came later
        repr(classifier)
