"""Models saved before the package moved to subpackages still load and predict the same."""

from __future__ import annotations

import json
import subprocess

import joblib
import numpy as np

from tests.conftest import REPO_ROOT

FIXTURE = REPO_ROOT / "tests/fixtures/model-0.1.joblib"
EXPECTED = json.loads((REPO_ROOT / "tests/fixtures/model-0.1.json").read_text())


def test_a_model_saved_by_0_1_names_the_old_modules() -> None:
    pickled = FIXTURE.read_bytes()
    for old in (b"textclf.model", b"textclf.nb", b"textclf.text"):
        assert old in pickled


def test_it_loads_and_predicts_what_it_predicted_then() -> None:
    model = joblib.load(FIXTURE)
    assert list(model.classes_) == EXPECTED["classes"]
    np.testing.assert_allclose(model.predict_proba(EXPECTED["texts"]), EXPECTED["proba"], atol=1e-7)
    assert type(model.named_steps["normalize"]).__module__ == "textclf.ml.model"


def test_it_loads_in_a_fresh_process_through_the_cli() -> None:
    """The old names resolve on first import, not only after the new modules were imported."""
    result = subprocess.run(
        ["textclf", "predict", "--model", str(FIXTURE), *EXPECTED["texts"]],
        capture_output=True,
        text=True,
        check=True,
    )
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    np.testing.assert_allclose(
        [answer["confidence"] for answer in answers],
        np.max(EXPECTED["proba"], axis=1),
        atol=1e-7,
    )


def test_its_classifier_reads_as_not_interpolated() -> None:
    """NB interpolation came later: an old classifier has no attribute for it, and must still
    show its params (repr, clone) and predict as before."""
    classifier = joblib.load(FIXTURE).named_steps["classify"]
    classifier = getattr(classifier, "estimator", classifier)  # calibrated or not
    if hasattr(classifier, "alpha"):
        assert "interpolation" not in vars(classifier)
        assert classifier.get_params()["interpolation"] is None
        assert classifier.get_params()["unweighted_columns"] == 0  # word vectors came later
        repr(classifier)
