"""Ranking a sweep's experiments: parsing `dvc exp show --json` and choosing by validation."""

from __future__ import annotations

import pytest

from textclf.core.errors import DataError
from textclf.review.sweeps import DEFAULT_METRIC, parse_exp_show, ranked, report


def entry(name: str, c: float, validation: float | None, test: float) -> dict:
    train = {"train_rows": 1800}
    if validation is not None:
        train["validation"] = {"accuracy": validation}
    return {
        "rev": f"{name}-rev",
        "name": name,
        "data": {
            "params": {"params.yaml": {"data": {"train": {"classifier": {"C": c}}}}},
            "metrics": {
                "reports/train.json": {"data": train},
                "reports/metrics.json": {"data": {"accuracy": test}},
            },
        },
    }


def shown(*experiments: dict) -> list[dict]:
    base = entry("main", 0.1, 0.85, 0.86)
    base["experiments"] = [{"name": e["name"], "revs": [e]} for e in experiments]
    return [{"rev": "workspace", "data": {}}, base]


def test_best_by_validation_not_by_test() -> None:
    baseline, experiments = parse_exp_show(
        shown(entry("a", 0.5, 0.86, 0.90), entry("b", 0.2, 0.88, 0.85), entry("c", 1, None, 0.99))
    )
    assert baseline.name == "main" and len(experiments) == 3
    assert [e.name for e in ranked(experiments)] == ["b", "a"]  # c has no validation metric
    text = report(baseline, experiments)
    assert text.splitlines()[1].split()[:3] == ["main", "0.8500", "0.8600"]
    assert text.splitlines()[2].startswith("b ") and "train.classifier.C=0.2" in text
    assert text.splitlines()[-1].startswith(f"best by {DEFAULT_METRIC}: b;")


def test_lower_is_better_and_ties_are_stable() -> None:
    _, experiments = parse_exp_show(shown(entry("z", 1, 0.8, 0), entry("y", 2, 0.8, 0)))
    assert [e.name for e in ranked(experiments)] == ["y", "z"]
    metric = "reports/metrics.json:accuracy"
    _, experiments = parse_exp_show(shown(entry("p", 1, 0.8, 0.3), entry("q", 2, 0.8, 0.2)))
    assert [e.name for e in ranked(experiments, metric, lower_is_better=True)] == ["q", "p"]


def test_no_sweep_yet_says_how_to_run_one() -> None:
    baseline, experiments = parse_exp_show(shown())
    with pytest.raises(DataError, match="no experiment has") as error:
        report(baseline, experiments)
    assert "dvc queue status" in error.value.fix
