from __future__ import annotations

from textclf.monitor.drift import verdict


def metric(kind: str, value, **config) -> dict:
    return {"config": {"type": f"evidently:metric_v2:{kind}", **config}, "value": value}


def test_verdict_reads_p_values_and_distances() -> None:
    result = {
        "metrics": [
            metric("DriftedColumnsCount", {"count": 2.0, "share": 0.5}),
            metric("ValueDrift", 0.001, column="length", method="K-S p_value", threshold=0.05),
            metric("ValueDrift", 0.30, column="oov_share", method="K-S p_value", threshold=0.05),
            metric(
                "ValueDrift",
                0.25,
                column="non_letter_share",
                method="Wasserstein distance (normed)",
                threshold=0.1,
            ),
            metric(
                "ValueDrift",
                0.05,
                column="predicted_label",
                method="Jensen-Shannon distance",
                threshold=0.1,
            ),
            metric("Accuracy", 0.91234),
        ]
    }
    outcome = verdict(result, threshold=0.5, rows=10)
    assert outcome.drifted_columns == ["length", "non_letter_share"]
    assert outcome.drift is True and outcome.drifted_share == 0.5
    assert outcome.accuracy == 0.9123
    assert verdict(result, threshold=0.75, rows=10).drift is False


def test_monitoring_sees_the_models_label_even_where_the_answer_was_uncertain() -> None:
    import pandas as pd

    from textclf.monitor.drift import model_labels

    scored = pd.DataFrame(
        {
            "predicted_label": ["pos", "uncertain", "neg"],
            "confidence": [0.9, 0.55, 0.8],
            "proba_neg": [0.1, 0.55, 0.8],
            "proba_pos": [0.9, 0.45, 0.2],
        }
    )
    assert model_labels(scored) == ["pos", "neg", "neg"]
