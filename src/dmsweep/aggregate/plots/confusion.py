"""Confusion matrix on the test set of the selected job of each model type (classification).

Read from the job's metrics.json (`splits.test.confusion_matrix`, rows true, columns
predicted, in the order of `classes`), so no prediction file is parsed. Cells are shaded by
the fraction of the true class (the row) and labelled with counts. A regression job has no
confusion matrix and is left out; a folder that cannot be read is a note in the record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dmsweep import jobfiles
from dmsweep.aggregate.plots._common import PlotContext

FAMILY = "confusion"
MAX_LABEL = 18
"""Class names longer than this are shortened on the axes (the caption says so)."""


@dataclass(frozen=True)
class ConfusionMatrix:
    """The test confusion matrix of one selected job (what the figure draws)."""

    counts: np.ndarray
    """int (C, C): row = true class, column = predicted class."""
    classes: tuple[str, ...]
    model: str
    job_id: str

    @property
    def row_fractions(self) -> np.ndarray:
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0)

    @property
    def accuracy(self) -> float:
        total = self.counts.sum()
        return float(np.trace(self.counts) / total) if total else float("nan")


@dataclass(frozen=True)
class ConfusionFigure:
    name: str
    title: str
    caption: str
    matrix: ConfusionMatrix
    problems: tuple[str, ...] = ()


def read_confusion(folder: Path) -> tuple[tuple[str, ...], np.ndarray] | None:
    """(classes, test confusion matrix) of a classification job folder; None for regression."""
    metrics = json.loads(jobfiles.JobPaths(folder).metrics.read_text(encoding="utf-8"))
    classes = metrics.get("classes")
    matrix = (metrics.get("splits", {}).get("test") or {}).get("confusion_matrix")
    if metrics.get("task") in (None, "regression") or classes is None or matrix is None:
        return None
    return tuple(classes), np.asarray(matrix, dtype=np.int64)


def compute(ctx: PlotContext) -> list[ConfusionFigure]:
    figures = []
    for model, job, folder in zip(
        ctx.best["model"], ctx.best["job_id"], ctx.best["folder"], strict=True
    ):
        try:
            found = read_confusion(Path(folder))
        except (OSError, ValueError, TypeError) as err:
            empty = ConfusionMatrix(np.zeros((0, 0), dtype=np.int64), (), model, job)
            figures.append(
                ConfusionFigure(
                    f"confusion_{model}", "", "", empty, (f"{job}: metrics.json not read ({err})",)
                )
            )
            continue
        if found is None:
            continue
        classes, counts = found
        matrix = ConfusionMatrix(counts, classes, model, job)
        figures.append(
            ConfusionFigure(
                name=f"confusion_{model}",
                title=f"Confusion matrix (test set), selected {model} ({job})",
                caption=(
                    "Rows: true class, columns: predicted class; shade = fraction of the true "
                    f"class, numbers = proteins. Accuracy {matrix.accuracy:.3f} on "
                    f"{int(counts.sum())} test proteins. Long class names are shortened."
                ),
                matrix=matrix,
            )
        )
    return figures


def draw(record: ConfusionFigure, ctx: PlotContext) -> Figure | None:
    matrix = record.matrix
    if not matrix.classes:
        return None
    size = max(4.0, 0.55 * len(matrix.classes) + 2.5)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix.row_fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    names = [c if len(c) <= MAX_LABEL else c[: MAX_LABEL - 1] + "…" for c in matrix.classes]
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(ticks, names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for (row, col), count in np.ndenumerate(matrix.counts):
        if count:
            dark = matrix.row_fractions[row, col] > 0.5
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
    ax.set_title(record.title, fontsize=10)
    return fig
