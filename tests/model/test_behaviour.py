"""Behaviour tests (CheckList style): case building, judging, the gate, and the suite file's
error messages. Models here are real scikit-learn pipelines trained on a few sentences; a
"broken" one is the same pipeline with its labels swapped, or blind to negation."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO_PARAMS, REPO_ROOT, make
from textclf.core.errors import DataError
from textclf.core.params import BehaviourParams, FailureRates, PrepareParams, TrainParams
from textclf.ml import behaviour
from textclf.ml.behaviour import gate_problem, load_suite, run_suite
from textclf.ml.model import build_pipeline
from textclf.ml.persist import LoadedModel

NOUNS = ["film", "story", "show"]
POSITIVE = [f"a {adj} {noun}" for adj in ("good", "great", "superb") for noun in NOUNS]
NEGATIVE = [f"a {adj} {noun}" for adj in ("bad", "awful", "dull") for noun in NOUNS]
NEGATED = [f"not {text}" for text in POSITIVE]  # teaches "not" as the flip it is
PARAMS = make(
    BehaviourParams,
    cases_per_test=50,
    tolerance=0.1,
    min_shift=0.01,
    max_failure_rate=FailureRates(mft=0.2, inv=0.1, dir=0.3),
    examples=2,
    seed=1,
)
SUITE = {
    "name": "tiny",
    "labels": {"positive": "pos", "negative": "neg"},
    "lexicon": {
        "pos_adj": ["good", "great", "superb"],
        "neg_adj": ["bad", "awful", "dull"],
        "noun": ["film", "story"],
        "first_name": ["John", "Mary", "Anna"],
    },
    "tests": [
        {"name": "positive", "type": "mft", "templates": ["a {pos_adj} {noun}"],
         "expect": "positive"},
        {"name": "negative", "type": "mft", "templates": ["a {neg_adj} {noun}"],
         "expect": "negative"},
        {"name": "names", "type": "inv", "templates": ["{first_name} saw a {pos_adj} {noun}"],
         "perturb": {"replace": "first_name"}},
        {"name": "negation", "type": "dir", "label": "positive", "direction": "down",
         "edits": [["a {pos_adj} {noun}", "not a {pos_adj} {noun}"]]},
    ],
}  # fmt: skip


def fitted(stop_words: list[str] | None = None, swap: bool = False) -> LoadedModel:
    vectorizer = {"kind": "count", "ngram_range": [1, 2], "stop_words": stop_words}
    params = make(
        TrainParams,
        word_vectors=None,
        vectorizer=vectorizer,
        classifier={"kind": "logreg", "C": 10.0},
    )
    texts = POSITIVE * 2 + NEGATIVE * 2 + NEGATED
    labels = ["pos"] * 18 + ["neg"] * 18 + ["neg"] * 9
    if swap:
        labels = ["neg" if label == "pos" else "pos" for label in labels]
    pipeline = build_pipeline(params, make(PrepareParams)).fit(texts, labels)
    return LoadedModel(pipeline, "test", "1", "test")


def write_suite(tmp_path: Path, suite: dict) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def report_of(model: LoadedModel, path: Path, texts: list[str] | None = None) -> dict:
    suite = load_suite(path, model.classes, texts or [], PARAMS)
    return run_suite(suite, model.score, PARAMS)


def test_a_sound_model_passes_and_cases_come_from_every_template_filling(tmp_path) -> None:
    report = report_of(fitted(), write_suite(tmp_path, SUITE))
    assert report["tests"]["positive"]["cases"] == 3 * 2  # pos_adj x noun
    assert report["tests"]["names"]["cases"] == 3 * 3 * 2  # every filling, each name replaced
    assert report["tests"]["negation"]["failure_rate"] == 0.0
    assert report["failed_gates"] == [] and gate_problem(report) is None
    assert report["summary"] == {"tests": 4, "passed": 4, "gate_failures": 0}


def test_swapped_labels_fail_the_functionality_tests(tmp_path) -> None:
    report = report_of(fitted(swap=True), write_suite(tmp_path, SUITE))
    assert report["tests"]["positive"]["failure_rate"] == 1.0
    assert report["tests"]["negative"]["failure_rate"] == 1.0
    problem = gate_problem(report)
    assert problem.startswith("behaviour tests failed: positive (100.0% > 20.0%)")
    example = report["tests"]["positive"]["examples"][0]
    assert example["expected"] == "pos" and example["predicted"] == "neg"
    assert len(report["tests"]["positive"]["examples"]) == PARAMS.examples


def test_a_model_blind_to_negation_fails_the_directional_test(tmp_path) -> None:
    report = report_of(fitted(stop_words=["not"]), write_suite(tmp_path, SUITE))
    negation = report["tests"]["negation"]
    assert negation["failure_rate"] == 1.0 and not negation["passed"]  # no move at all
    assert negation["examples"][0]["edited"].startswith("not a ")
    assert "negation (100.0% > 30.0%)" in gate_problem(report)


def test_an_ungated_test_is_reported_but_does_not_fail_the_gate(tmp_path) -> None:
    suite = {**SUITE, "tests": [{**SUITE["tests"][0], "gate": False}]}
    report = report_of(fitted(swap=True), write_suite(tmp_path, suite))
    assert not report["tests"]["positive"]["passed"]
    assert gate_problem(report) is None


def test_invariance_fails_on_a_label_change_or_a_large_move(tmp_path) -> None:
    suite = {
        **SUITE,
        "tests": [
            {"name": "adjectives", "type": "inv", "templates": ["a {pos_adj} film"],
             "perturb": {"replace": "pos_adj"}},
            {"name": "sentiment swap", "type": "inv",
             "edits": [["a {pos_adj} film", "a {neg_adj} film"]]},
        ],
    }  # fmt: skip
    report = report_of(fitted(), write_suite(tmp_path, suite))
    assert report["tests"]["sentiment swap"]["failure_rate"] == 1.0
    assert report["tests"]["adjectives"]["failure_rate"] < 1.0


def test_cases_from_the_test_split_keep_only_rows_the_edit_changes(tmp_path) -> None:
    suite = {
        **SUITE,
        "tests": [{"name": "names", "type": "inv", "from": "test_split",
                   "perturb": {"replace": "first_name"}}],
    }  # fmt: skip
    texts = ["John liked it, a good film", "no names here", "Mary and Anna: great acting"]
    suite_ = load_suite(write_suite(tmp_path, suite), ["neg", "pos"], texts, PARAMS)
    (test,) = suite_.tests
    assert sorted(original for original, _ in test.cases) == [texts[0], texts[2]]
    assert all("John" not in edited for original, edited in test.cases if "John" in original)


def test_sampling_is_seeded_and_capped(tmp_path) -> None:
    texts = [f"review {i} with John" for i in range(300)]
    suite = {**SUITE, "tests": [{"name": "n", "type": "inv", "from": "test_split",
                                 "perturb": {"replace": "first_name"}}]}  # fmt: skip
    path = write_suite(tmp_path, suite)
    first = load_suite(path, ["neg", "pos"], texts, PARAMS).tests[0].cases
    assert len(first) == PARAMS.cases_per_test
    assert load_suite(path, ["neg", "pos"], texts, PARAMS).tests[0].cases == first


def test_numbers_change_but_ratings_and_years_stay_what_they_are() -> None:
    rng = random.Random(0)
    text = "I saw it 3 times in 1998; 7/10, and 8 out of 10. Room 101."
    edited = behaviour._change_numbers(text, rng)
    assert "7/10" in edited
    assert edited != text
    huge = behaviour._change_numbers("call 123456789012345678", rng)  # edited, not enumerated
    assert huge != "call 123456789012345678" and huge.startswith("call ")
    year = edited.split("in ")[1][:4]
    assert year.isdigit() and 1950 <= int(year) <= 2020 and year != "1998"


def test_typos_and_punctuation_are_small_seeded_edits() -> None:
    text = "A wonderful performance by everyone involved."
    typo = behaviour._typos(text, random.Random(3), 2)
    assert typo != text and sorted(typo) == sorted(text) and len(typo) == len(text)
    assert typo == behaviour._typos(text, random.Random(3), 2)
    assert behaviour._toggle_end_punctuation(text, random.Random(0)) == text[:-1]
    assert behaviour._toggle_end_punctuation("no stop", random.Random(0)) == "no stop."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lexicon": {"noun": ["film"]}}, "uses {pos_adj}, which the lexicon lacks"),
        ({"labels": {"positive": "yes", "negative": "no"}}, "are not classes of this model"),
        ({"tests": [{"name": "x", "type": "mft?", "templates": ["a"], "expect": "positive"}]},
         "type is 'mft?'"),
        ({"tests": [{"name": "x", "type": "mft", "templates": ["a"], "expect": "happy"}]},
         "expect is 'happy'"),
        ({"tests": [{"name": "x", "type": "inv", "templates": ["a"]}]}, "needs an edit"),
        ({"tests": [{"name": "x", "type": "dir", "label": "positive", "direction": "sideways",
                     "edits": [["a", "b"]]}]}, "direction is 'sideways'"),
        ({"tests": [{"name": "x", "type": "inv", "from": "test_split", "perturb": "shout"}]},
         "perturb is 'shout'"),
        ({"tests": SUITE["tests"][:1] * 2}, "two tests are named 'positive'"),
    ],
)  # fmt: skip
def test_suite_mistakes_name_the_file_the_test_and_the_fix(tmp_path, change, message) -> None:
    path = write_suite(tmp_path, {**SUITE, **change})
    with pytest.raises(DataError) as error:
        load_suite(path, ["neg", "pos"], ["some review"], PARAMS)
    text = str(error.value)
    assert text.startswith(str(path)) and message in text and "Fix:" in text


def test_missing_suite_file_says_how_to_turn_the_tests_off(tmp_path) -> None:
    with pytest.raises(DataError, match=r"behaviour.suite to a suite file .* or null"):
        load_suite(tmp_path / "nope.yaml", ["neg", "pos"], [], PARAMS)


def test_the_shipped_suite_builds_every_test() -> None:
    texts = ["John and Mary watched it in Paris in 1999 and it was great.", "Dull. 2 hours lost"]
    settings = REPO_PARAMS.behaviour
    suite = load_suite(REPO_ROOT / settings.suite, ["neg", "pos"], texts, settings)
    assert len(suite.tests) >= 12
    assert {test.type for test in suite.tests} == {"mft", "inv", "dir"}
    assert all(test.cases for test in suite.tests)
    assert all(len(test.cases) <= settings.cases_per_test for test in suite.tests)
    assert np.mean([test.gate for test in suite.tests]) > 0.9
