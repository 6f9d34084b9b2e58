"""Sweeps: DVC experiments ranked by a metric of the validation split.

A sweep is DVC's own queue (README: Sweeps):

    dvc exp run --queue -S 'train.classifier.C=0.05,0.1,0.2' -S 'train.nb_alpha=0.5,1'
    dvc queue start -j 2        # two experiments at a time
    textclf sweep-best          # the ranking, by reports/train.json's validation accuracy

The ranking reads `dvc exp show --json`; the validation metric is the one hyperparameters are
chosen by, never the test split's (the train stage scores the validation split before
calibrating on it).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textclf.core.errors import DataError
from textclf.core.params import flatten

DEFAULT_METRIC = "reports/train.json:validation.accuracy"
TEST_METRIC = "reports/metrics.json:accuracy"


@dataclass
class Experiment:
    name: str
    rev: str
    params: dict[str, Any]  # dotted keys of params.yaml
    metrics: dict[str, Any] = field(default_factory=dict)  # "<file>:<dotted key>" -> value
    error: str | None = None  # why its run failed, if it did

    def value(self, metric: str) -> float | None:
        value = self.metrics.get(metric)
        return float(value) if isinstance(value, int | float) else None


def list_experiments(root: Path = Path(".")) -> tuple[Experiment, list[Experiment]]:
    """The baseline (the commit the experiments branch from) and its experiments."""
    try:
        completed = subprocess.run(
            ["dvc", "exp", "show", "--json"], cwd=root, capture_output=True, text=True, check=True
        )
    except subprocess.CalledProcessError as error:
        raise DataError(
            root,
            f"`dvc exp show` failed: {error.stderr.strip().splitlines()[-1:]}",
            "run this inside the repository (a DVC project)",
        ) from None
    return parse_exp_show(json.loads(completed.stdout))


def parse_exp_show(shown: list[dict]) -> tuple[Experiment, list[Experiment]]:
    """`dvc exp show --json` (DVC 3): the workspace, then each commit with its `experiments`,
    each a list of `revs` (the last one is the experiment's result)."""
    commits = [entry for entry in shown if entry.get("rev") != "workspace"]
    if not commits:
        raise DataError("dvc exp show", "no commit to compare with", "commit the project first")
    baseline = _experiment(commits[0], commits[0].get("name") or commits[0]["rev"][:7])
    experiments = []
    for group in commits[0].get("experiments") or []:
        revs = group.get("revs") or []
        if revs:
            experiments.append(_experiment(revs[0], group.get("name") or revs[0].get("name")))
    return baseline, experiments


def ranked(
    experiments: list[Experiment], metric: str = DEFAULT_METRIC, lower_is_better: bool = False
) -> list[Experiment]:
    """Experiments with a value of `metric`, best first (ties: by name, for a stable order)."""
    scored = [experiment for experiment in experiments if experiment.value(metric) is not None]
    sign = 1 if lower_is_better else -1
    return sorted(scored, key=lambda e: (sign * e.value(metric), e.name))  # type: ignore[operator]


def changed_params(experiment: Experiment, baseline: Experiment) -> dict[str, Any]:
    return {
        key: value
        for key, value in experiment.params.items()
        if baseline.params.get(key, object()) != value
    }


def report(
    baseline: Experiment,
    experiments: list[Experiment],
    metric: str = DEFAULT_METRIC,
    lower_is_better: bool = False,
) -> str:
    """A table of the experiments, best first, then what to do with the best one."""
    best_first = ranked(experiments, metric, lower_is_better)
    if not best_first:
        failed = [e.name for e in experiments if e.error]
        raise DataError(
            "dvc exp show",
            f"no experiment has {metric}" + (f" ({len(failed)} failed)" if failed else ""),
            "run a sweep (README: Sweeps), wait for `dvc queue status` to show it done, "
            "or pass --metric",
        )
    lines = [
        f"{'experiment':<24} {metric.split(':')[-1]:>20} {'test accuracy':>14}  changed params"
    ]
    for experiment in [baseline, *best_first]:
        test = experiment.value(TEST_METRIC)
        changes = changed_params(experiment, baseline)
        lines.append(
            f"{experiment.name:<24} {_number(experiment.value(metric)):>20} "
            f"{_number(test):>14}  "
            + (", ".join(f"{key}={value}" for key, value in changes.items()) or "(baseline)")
        )
    failed = [experiment.name for experiment in experiments if experiment.error]
    if failed:
        lines.append(f"failed: {', '.join(failed)} (see `dvc queue logs <name>`)")
    best = best_first[0]
    lines.append(
        f"best by {metric}: {best.name}; "
        f"`dvc exp apply {best.name}` puts its params and outputs in the workspace"
    )
    return "\n".join(lines)


def _experiment(entry: dict, name: str) -> Experiment:
    data = entry.get("data") or {}
    params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
    metrics = {}
    for path, content in (data.get("metrics") or {}).items():
        for key, value in flatten(content.get("data") or {}):
            metrics[f"{path}:{key}"] = value
    error = entry.get("error") or data.get("error")
    return Experiment(
        name=name,
        rev=entry.get("rev", ""),
        params=dict(flatten(params)),
        metrics=metrics,
        error=(error.get("msg") if isinstance(error, dict) else error) or None,
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
