"""The behaviour stage: the behaviour suite (behaviour.suite) run on the trained model; it writes
the report, then fails if a gated test failed (textclf.ml.behaviour holds the suite itself)."""

from __future__ import annotations

from textclf.core.errors import GateFailed
from textclf.core.files import write_json
from textclf.core.layout import Layout
from textclf.core.params import Params
from textclf.core.tables import read_stage_output
from textclf.ml.behaviour import behaviour_report, gate_problem
from textclf.ml.persist import load_model_file


def run(params: Params, layout: Layout) -> dict:
    model = load_model_file(layout.model)
    test = read_stage_output(layout.test_split, "prepare")
    report = behaviour_report(model, test["text"].tolist(), params, layout.root)
    write_json(report, layout.behaviour_report)
    problem = gate_problem(report)
    if problem:
        raise GateFailed(
            layout.model,
            problem,
            f"see the failing examples in {layout.behaviour_report}; improve the model, or "
            "knowingly raise behaviour.max_failure_rate",
        )
    return report["summary"]
