"""Behaviour tests of a trained model, in the CheckList style (Ribeiro et al., ACL 2020).

A suite file (YAML, one per kind of dataset; `behaviour.suite` in params names it) holds word
lists and tests of three types:

- `mft` (minimum functionality): texts built from templates must get the expected label;
- `inv` (invariance): an edit that should not matter (a name, a place, a number, punctuation,
  a typo) must not change the label, nor move the answer's probability by more than
  `behaviour.tolerance`;
- `dir` (directional): an edit must move one label's probability the stated way: `down`/`up` by
  at least `behaviour.min_shift` (a negation must lower "positive"), `not_down`/`not_up` by no
  more than `behaviour.tolerance` the wrong way (an intensifier must not lower it).

Cases come from templates (every combination of the word lists, sampled down to
`behaviour.cases_per_test`) or from the test split (rows the edit changes). Everything is seeded,
so a suite gives the same cases, and the same report, on every run.
"""

from __future__ import annotations

import itertools
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from textclf.core.errors import DataError
from textclf.core.params import BehaviourParams, Params
from textclf.ml.persist import LoadedModel
from textclf.ml.scoring import Scores

TYPES = ("mft", "inv", "dir")
DIRECTIONS = ("up", "down", "not_up", "not_down")
PERTURBATIONS = ("replace", "numbers", "punctuation", "typos", "append")
# Reviewers rate in words as well as "7/10": "8 out of 10", "3 of 4", "I give it a 7", "a
# rating of 2", "10 stars". Such a number carries the label, so it is never changed.
_NUMBER = re.compile(r"(?<![\w/.,])\d+(?![\w/]|[.,]\d)")
_RATING_BEFORE = re.compile(
    r"(\b(a|an|rating|rate|rated|score|scored|give it|gave it|gets|got|than|of)\s*:?\s*)$", re.I
)
_RATING_AFTER = re.compile(r"^\s*(/|out\b|of\s+\d|stars?\b|points?\b|\.\s*$)", re.I)


@dataclass(frozen=True)
class BehaviourTest:
    name: str
    type: str  # mft | inv | dir
    description: str
    cases: list[tuple[str, str]]  # mft: (text, text); inv/dir: (original, edited)
    expect: str | None = None  # mft: the dataset label every case must get
    label: str | None = None  # dir: the dataset label whose probability must move
    direction: str | None = None  # dir: up | down | not_up | not_down
    gate: bool = True  # False: reported (a known limit), never fails the stage


@dataclass(frozen=True)
class Suite:
    name: str
    path: str
    tests: list[BehaviourTest]


Score = Callable[[list[str]], Scores]


def behaviour_report(model: LoadedModel, test_texts: list[str], params: Params, root: Path) -> dict:
    """The behaviour suite that params name (relative to `root`), run on `model`; an empty
    report when the dataset has none."""
    settings = params.behaviour
    if settings.suite is None:
        summary = {"tests": 0, "passed": 0, "gate_failures": 0}
        return {"suite": None, "summary": summary, "failed_gates": [], "tests": {}}
    suite = load_suite(root / settings.suite, model.classes, test_texts, settings)
    return run_suite(suite, model.score, settings)


def load_suite(
    path: str | Path, classes: list[str], test_texts: list[str], params: BehaviourParams
) -> Suite:
    """Read a suite file and build every test's cases; errors name the file and the test."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            path,
            "the behaviour suite does not exist",
            "set behaviour.suite to a suite file (data/behaviour/) or null for no behaviour tests",
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise DataError(path, f"not valid YAML ({error})", "fix the YAML syntax") from None
    labels = _mapping(raw, "labels", path, "map the suite's label names to the dataset's")
    lexicon = {
        str(key): [str(word) for word in words]
        for key, words in _mapping(raw, "lexicon", path, "give the word lists").items()
    }
    missing = sorted(str(value) for value in labels.values() if str(value) not in classes)
    if missing:
        raise DataError(
            path,
            f"the suite's labels {missing} are not classes of this model ({', '.join(classes)})",
            "point behaviour.suite at a suite for this kind of dataset (or null), or fix its "
            "`labels` mapping",
            field="labels",
        )
    builder = _CaseBuilder(path, lexicon, test_texts, params)
    tests = [
        _build_test(spec, index, path, {str(k): str(v) for k, v in labels.items()}, builder)
        for index, spec in enumerate(raw.get("tests") or [])
    ]
    if not tests:
        raise DataError(path, "the suite has no tests", "add tests, or set behaviour.suite: null")
    names = [test.name for test in tests]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise DataError(path, f"two tests are named {duplicate!r}", "give each test its own name")
    return Suite(str(raw.get("name", path.stem)), str(path), tests)


def run_suite(suite: Suite, score: Score, params: BehaviourParams) -> dict[str, Any]:
    """Run every test; the report (failure rates, thresholds, examples) is JSON-ready."""
    results = {test.name: _run_test(test, score, params) for test in suite.tests}
    failed = [name for name, result in results.items() if result["gate"] and not result["passed"]]
    return {
        "suite": suite.name,
        "suite_file": suite.path,
        "summary": {
            "tests": len(results),
            "passed": sum(result["passed"] for result in results.values()),
            "gate_failures": len(failed),
        },
        "failed_gates": failed,
        "tests": results,
    }


def gate_problem(report: dict[str, Any]) -> str | None:
    """Why a behaviour report fails the quality gate, or None when it passes."""
    failed = report.get("failed_gates") or []
    if not failed:
        return None
    parts = [
        f"{name} ({report['tests'][name]['failure_rate']:.1%} > "
        f"{report['tests'][name]['max_failure_rate']:.1%})"
        for name in failed
    ]
    return f"behaviour tests failed: {', '.join(parts)}"


def _run_test(test: BehaviourTest, score: Score, params: BehaviourParams) -> dict[str, Any]:
    before = score([original for original, _ in test.cases])
    after = before if test.type == "mft" else score([edited for _, edited in test.cases])
    failing, severity = _judge(test, before, after, params)
    rate = float(failing.mean())
    limit = getattr(params.max_failure_rate, test.type)
    worst = np.flatnonzero(failing)
    worst = worst[np.argsort(-severity[worst], kind="stable")][: params.examples]
    return {
        "type": test.type,
        "description": test.description,
        "cases": len(test.cases),
        "failures": int(failing.sum()),
        "failure_rate": round(rate, 6),
        "max_failure_rate": limit,
        "passed": rate <= limit,
        "gate": test.gate,
        "examples": [_example(test, before, after, row) for row in worst],
    }


def _judge(
    test: BehaviourTest, before: Scores, after: Scores, params: BehaviourParams
) -> tuple[np.ndarray, np.ndarray]:
    """Which cases fail, and how badly (to show the worst first)."""
    if test.type == "mft":
        expected = list(before.classes).index(test.expect)
        return before.labels != test.expect, before.confidence - before.proba[:, expected]
    if test.type == "inv":
        answer = before.proba.argmax(axis=1)
        moved = np.abs(after.proba[np.arange(len(after)), answer] - before.confidence)
        return (after.labels != before.labels) | (moved > params.tolerance), moved
    column = list(before.classes).index(test.label)
    shift = after.proba[:, column] - before.proba[:, column]
    wrong_way = -shift if test.direction in ("up", "not_down") else shift
    limit = {
        "down": -params.min_shift,
        "up": -params.min_shift,
        "not_down": params.tolerance,
        "not_up": params.tolerance,
    }[test.direction]
    return wrong_way > limit, wrong_way


def _example(test: BehaviourTest, before: Scores, after: Scores, row: int) -> dict[str, Any]:
    original, edited = test.cases[row]
    start = _first_difference(original, edited)
    example: dict[str, Any] = {"text": _clip(original, start)}
    if test.type == "mft":
        example["expected"] = test.expect
    else:
        example["edited"] = _clip(edited, start)
    example["predicted"] = str(before.labels[row])
    example["probabilities"] = _rounded(before, row)
    if test.type != "mft":
        example["edited_predicted"] = str(after.labels[row])
        example["edited_probabilities"] = _rounded(after, row)
    return example


def _rounded(scores: Scores, row: int) -> dict[str, float]:
    return {
        str(c): round(float(p), 4) for c, p in zip(scores.classes, scores.proba[row], strict=True)
    }


def _first_difference(original: str, edited: str) -> int:
    return next(
        (i for i, (a, b) in enumerate(zip(original, edited, strict=False)) if a != b),
        min(len(original), len(edited)),
    )


def _clip(text: str, around: int = 0, limit: int = 300) -> str:
    """At most `limit` characters of `text`, from a little before `around` (where an edit
    starts), so a long review's example shows what changed."""
    start = max(0, min(around - limit // 3, len(text) - limit))
    clipped = text[start : start + limit]
    return ("…" if start > 0 else "") + clipped + ("…" if start + limit < len(text) else "")


def _mapping(raw: dict, key: str, path: Path, fix: str) -> dict:
    value = raw.get(key)
    if not isinstance(value, dict) or not value:
        raise DataError(path, f"'{key}' is missing or not a mapping", fix, field=key)
    return value


def _build_test(
    spec: Any, index: int, path: Path, labels: dict[str, str], builder: _CaseBuilder
) -> BehaviourTest:
    if not isinstance(spec, dict) or "name" not in spec:
        raise DataError(path, f"test {index + 1} has no name", "give each test a `name`")
    name = str(spec["name"])

    def fail(problem: str, fix: str) -> DataError:
        return DataError(path, problem, fix, field=f"tests[{name}]")

    kind = spec.get("type")
    if kind not in TYPES:
        raise fail(f"type is {kind!r}", f"set it to one of {', '.join(TYPES)}")

    def label(key: str) -> str:
        value = spec.get(key)
        if value not in labels:
            raise fail(f"{key} is {value!r}", f"use one of the suite's labels: {', '.join(labels)}")
        return labels[value]

    cases = builder.cases(spec, fail)
    common = {
        "name": name,
        "type": kind,
        "description": str(spec.get("description", "")),
        "cases": cases,
        "gate": bool(spec.get("gate", True)),
    }
    if kind == "mft":
        return BehaviourTest(**common, expect=label("expect"))
    if kind == "dir":
        direction = spec.get("direction")
        if direction not in DIRECTIONS:
            raise fail(f"direction is {direction!r}", f"set it to one of {', '.join(DIRECTIONS)}")
        return BehaviourTest(**common, label=label("label"), direction=direction)
    return BehaviourTest(**common)


class _CaseBuilder:
    """Turns a test's `templates`, `edits` or `from: test_split` plus `perturb` into cases."""

    def __init__(
        self,
        path: Path,
        lexicon: dict[str, list[str]],
        test_texts: list[str],
        params: BehaviourParams,
    ) -> None:
        self.path, self.lexicon, self.test_texts, self.params = path, lexicon, test_texts, params

    def cases(self, spec: dict, fail: Callable[[str, str], DataError]) -> list[tuple[str, str]]:
        sources = [key for key in ("templates", "edits", "from") if key in spec]
        if len(sources) != 1:
            raise fail(
                "a test needs exactly one of templates, edits or from",
                "give `templates` (with `perturb` for inv/dir), `edits` (pairs of templates), "
                "or `from: test_split` with `perturb`",
            )
        rng = random.Random(f"{self.params.seed}:{spec['name']}")
        perturb = self._perturbation(spec.get("perturb"), fail) if "perturb" in spec else None
        if spec["type"] != "mft" and perturb is None and "edits" not in spec:
            raise fail("an inv or dir test needs an edit", "add `perturb`, or use `edits`")
        if "edits" in spec:
            pairs = [self._pair(pair, fail) for pair in spec["edits"] or []]
            cases = [case for before, after in pairs for case in self._expand(before, after)]
        elif "templates" in spec:
            cases = [
                case for template in spec["templates"] or [] for case in self._expand(template)
            ]
        else:
            if spec["from"] != "test_split":
                raise fail(f"from is {spec['from']!r}", "set it to test_split")
            if perturb is None:
                raise fail("cases from the test split need an edit", "add `perturb`")
            return self._edited_rows(perturb, rng, fail)
        if perturb is not None:
            cases = [(original, perturb(original, rng)) for original, _ in cases]
            cases = [(original, edited) for original, edited in cases if edited != original]
        if not cases:
            raise fail("the test has no cases", "check its templates, word lists and perturbation")
        if len(cases) > self.params.cases_per_test:
            cases = rng.sample(cases, self.params.cases_per_test)
        return cases

    def _edited_rows(
        self,
        perturb: Callable[[str, random.Random], str],
        rng: random.Random,
        fail: Callable[[str, str], DataError],
    ) -> list[tuple[str, str]]:
        """Test-split rows in a seeded order, edited, until `cases_per_test` of them changed:
        a large test split is never edited whole."""
        order = list(range(len(self.test_texts)))
        rng.shuffle(order)
        cases = []
        for row in order:
            original = self.test_texts[row]
            edited = perturb(original, rng)
            if edited != original:
                cases.append((original, edited))
                if len(cases) == self.params.cases_per_test:
                    break
        if not cases:
            raise fail("no test-split row is changed by the edit", "choose another perturbation")
        return cases

    def _pair(self, pair: Any, fail: Callable[[str, str], DataError]) -> tuple[str, str]:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise fail(f"the edit {pair!r} is not a pair", "write [before template, after]")
        return str(pair[0]), str(pair[1])

    def _expand(self, template: str, edited: str | None = None) -> list[tuple[str, str]]:
        """Every filling of the slots (one word list per slot) of the template and its edited
        form, in a fixed order; a slot only the edit has (e.g. an intensifier) is filled too."""
        slots = sorted(_slots(template) | _slots(edited or ""))
        unknown = [slot for slot in slots if slot not in self.lexicon]
        if unknown:
            raise DataError(
                self.path,
                f"the template {template!r} uses {{{unknown[0]}}}, which the lexicon lacks",
                f"add a `{unknown[0]}` word list under lexicon",
                field="lexicon",
            )
        cases = []
        for words in itertools.product(*(self.lexicon[slot] for slot in slots)):
            filling = dict(zip(slots, words, strict=True))
            text = template.format(**filling)
            cases.append((text, edited.format(**filling) if edited is not None else text))
        return cases

    def _perturbation(
        self, spec: Any, fail: Callable[[str, str], DataError]
    ) -> Callable[[str, random.Random], str]:
        kind, argument = next(iter(spec.items())) if isinstance(spec, dict) else (spec, None)
        if kind not in PERTURBATIONS or (isinstance(spec, dict) and len(spec) != 1):
            raise fail(
                f"perturb is {spec!r}",
                f"use one of {', '.join(PERTURBATIONS)} (replace: <word list>, typos: <count>, "
                "append: [sentences])",
            )
        if kind == "replace":
            if argument not in self.lexicon:
                raise fail(f"replace names {argument!r}", "name a word list of the lexicon")
            return _replace_words(self.lexicon[argument])
        if kind == "append":
            if not isinstance(argument, list) or not argument:
                raise fail("append needs sentences", "write append: [a sentence, ...]")
            return lambda text, rng: f"{text.rstrip()} {rng.choice(argument)}"
        if kind == "typos":
            return lambda text, rng: _typos(text, rng, int(argument or 1))
        return {"numbers": _change_numbers, "punctuation": _toggle_end_punctuation}[kind]


def _slots(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _replace_words(words: list[str]) -> Callable[[str, random.Random], str]:
    """Each word of the list in the text becomes another word of the list."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b")

    def replace(text: str, rng: random.Random) -> str:
        return pattern.sub(lambda m: rng.choice([w for w in words if w != m.group(0)]), text)

    return replace


def _change_numbers(text: str, rng: random.Random) -> str:
    def other(match: re.Match[str]) -> str:
        before, after = text[max(0, match.start() - 20) : match.start()], text[match.end() :]
        if _RATING_BEFORE.search(before) or _RATING_AFTER.match(after[:20]):
            return match.group(0)
        number = int(match.group(0))
        if 1900 <= number <= 2030:  # a year stays a plausible year
            return str(rng.choice([y for y in range(1950, 2021) if y != number]))
        changed = rng.randint(max(2, number // 2), number * 2 + 2)  # no list: numbers can be huge
        return str(changed if changed != number else number + 1)

    return _NUMBER.sub(other, text)


def _toggle_end_punctuation(text: str, rng: random.Random) -> str:
    stripped = text.rstrip()
    if stripped and stripped[-1] in ".!?":
        return stripped.rstrip(".!?")
    return f"{stripped}."


def _typos(text: str, rng: random.Random, count: int) -> str:
    """Swap two neighbouring letters in `count` words of four letters or more."""
    words = list(re.finditer(r"[A-Za-z]{4,}", text))
    if not words:
        return text
    chars = list(text)
    for match in rng.sample(words, min(count, len(words))):
        i = rng.randrange(match.start(), match.end() - 1)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)
