"""The pull-request report: what a change does to the model, against a base git revision.

Both models are scored on the same evaluation rows, so the accuracy change is tested with paired
statistics (McNemar's exact test and a paired bootstrap interval, the promotion rule's own:
ml/comparison.py) rather than two independent proportions.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from textclf.core.errors import DataError, ServiceUnavailable
from textclf.core.files import write_text
from textclf.core.layout import Layout
from textclf.core.params import flatten
from textclf.ml.comparison import PairedComparison, compare_correct
from textclf.ml.metrics import HEADLINE, HIGHER_IS_BETTER, compute_metrics
from textclf.ml.params import load_params
from textclf.registry.models import load_model
from textclf.registry.tracking import is_server, tracking_uri
from textclf.registry.versions import CHAMPION, alias_uri

MARKER = "<!-- textclf-report -->"
log = logging.getLogger(__name__)
REGRESSION = "⚠️ worse"
CARD_DIFF_LINES = 120
FIGURES = (
    "confusion_matrix.png",
    "roc.png",
    "precision_recall.png",
    "calibration.png",
    "coverage.png",
)


@dataclass
class Snapshot:
    """The tracked results of one revision: what git holds under reports/ and params.yaml."""

    label: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    predictions: pd.DataFrame | None = None
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    behaviour: dict[str, Any] = field(default_factory=dict)
    model_card: str | None = None


def workspace_snapshot(root: Path) -> Snapshot:
    return _snapshot("workspace", lambda relative: _read_file(root / relative))


def git_snapshot(rev: str, root: Path) -> Snapshot:
    check = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=root, capture_output=True
    )
    if check.returncode != 0:
        raise DataError(rev, "not a git revision here", "fetch the base branch (git fetch origin)")
    return _snapshot(rev, lambda relative: _git_show(root, rev, relative))


def _snapshot(label: str, read: Callable[[Path], str | None]) -> Snapshot:
    layout = Layout(Path())
    metrics_text = read(layout.metrics)
    if metrics_text is None:
        raise DataError(
            f"{label}:{layout.metrics}", "no metrics", "run `dvc repro` and commit reports/"
        )
    predictions = read(layout.predictions)
    validation = read(layout.validation_report)
    run = read(layout.run_record)
    behaviour = read(layout.behaviour_report)
    return Snapshot(
        label=label,
        metrics=json.loads(metrics_text),
        params=yaml.safe_load(read(Path("params.yaml")) or "") or {},
        predictions=(
            pd.read_csv(io.StringIO(predictions), dtype={"id": str}) if predictions else None
        ),
        label_counts=json.loads(validation)["label_counts"] if validation else {},
        run=json.loads(run) if run else {},
        behaviour=json.loads(behaviour) if behaviour else {},
        model_card=read(layout.model_card),
    )


def _read_file(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def _git_show(root: Path, rev: str, relative: Path) -> str | None:
    result = subprocess.run(
        ["git", "show", f"{rev}:{relative.as_posix()}"], cwd=root, capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else None


def paired_significance(
    base: pd.DataFrame, new: pd.DataFrame, confidence: float = 0.95
) -> PairedComparison | None:
    """The promotion rule's accuracy comparison (ml/comparison.py) on the rows both evaluations
    share (matched by id), or None when they share none."""
    joined = base[["id", "correct"]].merge(new[["id", "correct"]], on="id", suffixes=("_b", "_n"))
    if joined.empty:
        return None
    return compare_correct(joined["correct_b"], joined["correct_n"], confidence)


def changed_params(base: dict, new: dict) -> list[tuple[str, Any, Any]]:
    old, current = dict(flatten(base)), dict(flatten(new))
    keys = sorted(set(old) | set(current))
    return [(k, old.get(k), current.get(k)) for k in keys if old.get(k) != current.get(k)]


def pr_markdown(
    base: Snapshot,
    new: Snapshot,
    figures: str | None = None,
    champion: Snapshot | None = None,
) -> str:
    """Markdown for a pull-request comment; `figures` is where the PNGs are linked from;
    `champion`, when given, adds the production model scored on the same test rows."""
    lines = [MARKER, f"## Model report: `{new.label}` vs `{base.label}`", ""]
    lines += _metrics_table(base, new, champion)
    lines += _significance_section(base, new)
    lines += _behaviour_section(base, new)
    lines += _params_section(base, new)
    lines += _data_section(base, new)
    lines += _model_card_section(base, new)
    if figures is not None:
        lines += ["### Plots (this change)", ""]
        lines += [f"![{name[:-4]}]({figures}/{name})" for name in FIGURES]
        lines.append("")
    link = mlflow_link(new.run)
    if link:
        lines += [f"MLflow run: [{new.run['run_id']}]({link})", ""]
    return "\n".join(lines)


def _metric_rows(snapshots: list[Snapshot]) -> list[tuple[str, bool | None, list[Any]]]:
    """(name, whether higher is better (None: neither), value per snapshot) for the headline
    and per-class metrics."""
    names = [("test rows", ("test_rows",)), *((name, (name,)) for name in HEADLINE)]
    classes = sorted({label for snap in snapshots for label in snap.metrics.get("per_class", {})})
    names += [
        (f"{label} {stat}", ("per_class", label, stat))
        for label in classes
        for stat in ("precision", "recall", "f1")
    ]
    rows = []
    for name, path in names:
        values = []
        for snap in snapshots:
            value: Any = snap.metrics
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        better = HIGHER_IS_BETTER.get(path[-1], True) if path != ("test_rows",) else None
        rows.append((name, better, values))
    return rows


def _metrics_table(base: Snapshot, new: Snapshot, champion: Snapshot | None) -> list[str]:
    header, rule = "| metric | base | new | delta |", "| --- | ---: | ---: | ---: |"
    snapshots = [base, new]
    if champion is not None:
        header += f" {champion.label} | new - champion |"
        rule += " ---: | ---: |"
        snapshots.append(champion)
    table = ["### Metrics", "", header, rule]
    for name, better, values in _metric_rows(snapshots):
        if values[0] is None and values[1] is None:
            continue
        old, current = values[0], values[1]
        line = f"| {name} | {_number(old)} | {_number(current)} | {_delta(old, current, better)} |"
        if champion is not None:
            line += f" {_number(values[2])} | {_delta(values[2], current, better)} |"
        table.append(line)
    return [
        *table,
        f"{REGRESSION}: a change the wrong way (for log_loss and ece, lower is better).",
        "",
    ]


def _behaviour_section(base: Snapshot, new: Snapshot) -> list[str]:
    """Failure rate of each behaviour test, base vs new; a rise is a regression."""
    old, current = base.behaviour.get("tests", {}), new.behaviour.get("tests", {})
    if not old and not current:
        return []
    lines = [
        "### Behaviour tests (failure rate)",
        "",
        "| test | type | base | new | change | limit | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in [*current, *(name for name in old if name not in current)]:
        test = current.get(name) or old[name]
        before = old.get(name, {}).get("failure_rate")
        after = current.get(name, {}).get("failure_rate")
        result = "-" if name not in current else ("pass" if current[name]["passed"] else "fail")
        if result == "fail" and not current[name]["gate"]:
            result = "fail (not gated)"
        lines.append(
            f"| {name} | {test['type']} | {_share(before)} | {_share(after)} | "
            f"{_delta(before, after, better=False, points=True)} | "
            f"{test['max_failure_rate']:.0%} | {result} |"
        )
    return [*lines, ""]


def _model_card_section(base: Snapshot, new: Snapshot) -> list[str]:
    if new.model_card is None or new.model_card == base.model_card:
        return []
    diff = list(
        difflib.unified_diff(
            (base.model_card or "").splitlines(),
            new.model_card.splitlines(),
            f"{base.label}/model_card.md",
            f"{new.label}/model_card.md",
            n=0,
            lineterm="",
        )
    )
    shown = diff[:CARD_DIFF_LINES]
    if len(diff) > len(shown):
        shown.append(f"... {len(diff) - len(shown)} more lines (reports/model_card.md)")
    return [
        "<details><summary>Model card changes (reports/model_card.md)</summary>",
        "",
        "```diff",
        *shown,
        "```",
        "",
        "</details>",
        "",
    ]


def _significance_section(base: Snapshot, new: Snapshot) -> list[str]:
    lines = ["### Is the accuracy change more than noise?", ""]
    confidence = float(new.params.get("registry", {}).get("confidence", 0.95))
    result = None
    if base.predictions is not None and new.predictions is not None:
        result = paired_significance(base.predictions, new.predictions, confidence)
    if result is None:
        return [*lines, "Not computed: the two revisions share no evaluation rows.", ""]
    verdict = "**significant**" if result.significant else "not significant"
    return [
        *lines,
        f"Paired on {result.rows} shared test rows: the new model alone is right on "
        f"{result.new_only_correct}, the base alone on {result.base_only_correct}.",
        "",
        f"- accuracy change {result.improvement:+.4f}, {confidence:.0%} bootstrap interval "
        f"[{result.low:+.4f}, {result.high:+.4f}]",
        f"- McNemar exact test p = {result.p_value:.4g}: {verdict} at the {confidence:.0%} level "
        "(the promotion rule's test: registry.confidence)",
        "",
    ]


def _params_section(base: Snapshot, new: Snapshot) -> list[str]:
    changes = changed_params(base.params, new.params)
    if not changes:
        return ["### Params", "", "No params changed.", ""]
    lines = ["### Params changed", "", "| param | base | new |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {old!r} | {current!r} |" for name, old, current in changes]
    return [*lines, ""]


def _data_section(base: Snapshot, new: Snapshot) -> list[str]:
    lines = [
        "### Data",
        "",
        "| split | label | base rows | new rows | change |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    splits = sorted(set(base.label_counts) | set(new.label_counts))
    for split in splits:
        old, current = base.label_counts.get(split, {}), new.label_counts.get(split, {})
        for label in sorted(set(old) | set(current)):
            a, b = old.get(label, 0), current.get(label, 0)
            lines.append(f"| {split} | {label} | {a} | {b} | {b - a:+d} |")
    if base.predictions is not None and new.predictions is not None:
        old_ids, new_ids = set(base.predictions["id"]), set(new.predictions["id"])
        lines += [
            "",
            f"Evaluation rows: {len(new_ids - old_ids)} added, {len(old_ids - new_ids)} removed.",
        ]
    return [*lines, ""]


def mlflow_link(run: dict[str, Any]) -> str | None:
    """A link to the run, when it lives on a tracking server (the run record says where)."""
    uri = run.get("tracking_uri", "")
    if not is_server(uri) or "run_id" not in run:
        return None
    return f"{uri.rstrip('/')}/#/experiments/{run['experiment_id']}/runs/{run['run_id']}"


def write_report(base_rev: str, root: Path, output: Path) -> Path:
    """Write `output`/report.md and copy this revision's figures beside it."""
    champion = champion_snapshot(root)
    report = pr_markdown(
        git_snapshot(base_rev, root), workspace_snapshot(root), "figures", champion
    )
    figures = output / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:
        source = Layout(root).figures / name
        if source.exists():
            shutil.copyfile(source, figures / name)
    write_text(report, output / "report.md")
    return output / "report.md"


def champion_snapshot(root: Path) -> Snapshot | None:
    """The registry's champion scored on the workspace's test rows, when a tracking server is
    configured and answers and there is a champion; None otherwise (the report says so)."""
    test_split = Layout(root).test_split
    if not is_server(tracking_uri(root)) or not test_split.exists():
        return None
    name = load_params(root / "params.yaml").registry.model_name
    try:
        model = load_model(alias_uri(name, CHAMPION), root)
    except (DataError, ServiceUnavailable) as error:  # no champion yet, or no registry
        log.warning("champion not compared: %s", error)
        return None
    test = pd.read_parquet(test_split, columns=["text", "label"])
    metrics = compute_metrics(test["label"].astype(str).to_numpy(), model.score(test["text"]))
    return Snapshot(label=f"champion v{model.version}", metrics=metrics, params={})


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _delta(old: Any, new: Any, better: bool | None = None, points: bool = False) -> str:
    """`new - old` (of shares, in percentage points when `points`), marked when it goes the
    wrong way (`better`: True when higher is better)."""
    if not isinstance(old, int | float) or not isinstance(new, int | float):
        return "-"
    change = new - old
    if points:
        text = f"{100 * change:+.1f} pp"
    else:
        text = f"{change:+.4f}" if isinstance(change, float) else f"{change:+d}"
    if better is not None and change != 0 and (change > 0) != better:
        text += f" {REGRESSION}"
    return text
