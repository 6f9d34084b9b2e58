"""What the last `dvc repro` produced, in a few lines for a person: the headline metric with its
interval, where the reports, the model and the MLflow run are, and what to run next (`make`
ends with it)."""

from __future__ import annotations

from textclf.core.errors import DataError
from textclf.core.files import read_json
from textclf.core.layout import Layout
from textclf.registry.tracking import LOCAL_STORE


def outcome(layout: Layout) -> list[str]:
    if not layout.metrics.exists():
        raise DataError(layout.metrics, "no metrics yet", "run the pipeline first: `dvc repro`")
    metrics = read_json(layout.metrics)
    interval = metrics.get("intervals", {}).get("accuracy", {})
    accuracy = f"test accuracy {metrics['accuracy']:.1%}"
    if interval:
        accuracy += f" (95% interval {interval['low']:.1%}-{interval['high']:.1%})"
    lines = [
        f"{accuracy} on {metrics['test_rows']:,} rows, macro-F1 {metrics['macro_f1']:.3f}",
        f"reports: {layout.metrics.parent.relative_to(layout.root)}/ (model card: "
        f"{layout.model_card.relative_to(layout.root)}, figures: "
        f"{layout.figures.relative_to(layout.root)}/)",
        f"model:   {layout.model.relative_to(layout.root)}",
    ]
    if layout.run_record.exists() and "run_id" in (record := read_json(layout.run_record)):
        uri = record["tracking_uri"]
        lines.append(f"MLflow:  run {record['run_id']} in {uri}")
        if uri.startswith("sqlite:"):
            lines.append(
                f"         see it: uv run mlflow ui --backend-store-uri sqlite:///{LOCAL_STORE}"
            )
    else:
        lines.append(f"MLflow:  no tracked run in {layout.run_record.relative_to(layout.root)}")
    lines.append(
        "next:    make test | uv run textclf --help | make stack-up && make push (DVC remote)"
    )
    return lines
