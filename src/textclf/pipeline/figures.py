"""PNG figures of an evaluation, for MLflow, `dvc plots` image plots and pull-request reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from textclf.core.files import atomic_path


def save_figures(predictions: pd.DataFrame, curves: dict[str, pd.DataFrame], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    figures = {"confusion_matrix.png": _confusion(plt, predictions)}
    if "roc" in curves:
        figures["roc.png"] = _line(plt, curves["roc"], "fpr", "tpr", "ROC curve", diagonal=True)
    if "precision_recall" in curves:
        figures["precision_recall.png"] = _line(
            plt, curves["precision_recall"], "recall", "precision", "Precision-recall curve"
        )
    figures["calibration.png"] = _line(
        plt,
        curves["calibration"],
        "mean_confidence",
        "fraction_correct",
        "Calibration (top-label confidence)",
        diagonal=True,
    )
    figures["coverage.png"] = _line(
        plt, curves["coverage"], "coverage", "accuracy", "Accuracy vs coverage (abstention)"
    )
    folder.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        with atomic_path(folder / name) as tmp:
            figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)


def _confusion(plt, predictions: pd.DataFrame):
    labels = sorted(set(predictions["actual"]) | set(predictions["predicted"]))
    matrix = pd.crosstab(predictions["actual"], predictions["predicted"]).reindex(
        index=labels, columns=labels, fill_value=0
    )
    size = max(4.0, 0.5 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix.to_numpy(), cmap="Blues")
    axes.set(
        xticks=np.arange(len(labels)),
        yticks=np.arange(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix",
    )
    peak = matrix.to_numpy().max() or 1
    for (row, column), count in np.ndenumerate(matrix.to_numpy()):
        colour = "white" if count > peak / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    return figure


def _line(plt, curve: pd.DataFrame, x: str, y: str, title: str, diagonal: bool = False):
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot(curve[x], curve[y], marker="." if len(curve) < 30 else None)
    if diagonal:
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    axes.set(xlabel=x, ylabel=y, title=title, xlim=(0, 1), ylim=(0, 1.02))
    return figure
