"""Predicted vs true score on the test set for the selected job of each model type.

Only these few predictions.csv files are read (columns true_score, predicted_score of the
job contract). A file that is missing or unreadable becomes a note in the record, not an
error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dmsweep import jobfiles
from dmsweep.aggregate.plots._common import PlotContext, new_figure

FAMILY = "predictions"
HEXBIN_ABOVE = 3000


@dataclass(frozen=True)
class PredictedVsTrue:
    model: str
    job_id: str
    true: np.ndarray
    predicted: np.ndarray
    pearson: float
    mse: float


@dataclass(frozen=True)
class PredictionsFigure:
    name: str
    title: str
    caption: str
    panels: tuple[PredictedVsTrue, ...]
    problems: tuple[str, ...]
    """Selected jobs whose predictions could not be read, and why."""


def read_predictions(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) of a job folder's predictions.csv (rows with both values finite)."""
    table = pd.read_csv(
        jobfiles.JobPaths(Path(folder)).predictions, usecols=["true_score", "predicted_score"]
    )
    true = pd.to_numeric(table["true_score"], errors="coerce").to_numpy(dtype=float)
    predicted = pd.to_numeric(table["predicted_score"], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(true) & np.isfinite(predicted)
    return true[keep], predicted[keep]


def _is_classification(folder: Path) -> bool:
    """predictions.csv of a classification (`id,true_class,...`): no scores to plot."""
    try:
        with open(jobfiles.JobPaths(folder).predictions, encoding="utf-8") as stream:
            return "true_class" in stream.readline().split(",")
    except OSError:
        return False


def compute(ctx: PlotContext) -> list[PredictionsFigure]:
    panels, problems = [], []
    for model, job, folder in zip(
        ctx.best["model"], ctx.best["job_id"], ctx.best["folder"], strict=True
    ):
        if _is_classification(Path(folder)):
            continue  # class predictions: the confusion matrices show them
        try:
            true, predicted = read_predictions(Path(folder))
        except (OSError, ValueError, KeyError) as err:
            problems.append(f"{job}: {jobfiles.PREDICTIONS} not read ({type(err).__name__}: {err})")
            continue
        if len(true) < 2:
            problems.append(f"{job}: {jobfiles.PREDICTIONS} has fewer than 2 usable rows")
            continue
        pearson = float(np.corrcoef(true, predicted)[0, 1]) if np.std(predicted) > 0 else np.nan
        mse = float(np.mean((true - predicted) ** 2))
        panels.append(PredictedVsTrue(model, job, true, predicted, pearson, mse))
    if not panels and not problems:
        return []
    return [
        PredictionsFigure(
            name="predicted_vs_true",
            title="Predicted vs true score (test set), selected job of each model type",
            caption=(
                f"One point per test variant (hexagonal bins above {HEXBIN_ABOVE} variants); "
                "dashed: perfect prediction."
            ),
            panels=tuple(panels),
            problems=tuple(problems),
        )
    ]


def draw(record: PredictionsFigure, ctx: PlotContext) -> Figure | None:
    if not record.panels:
        return None
    fig, axes = new_figure(len(record.panels), ncols=4, size=(3.8, 3.6))
    for ax, panel in zip(axes, record.panels, strict=True):
        if len(panel.true) > HEXBIN_ABOVE:
            ax.hexbin(
                panel.true,
                panel.predicted,
                gridsize=45,
                mincnt=1,
                cmap="viridis",
                bins="log",
                rasterized=True,
            )
        else:
            ax.scatter(
                panel.true,
                panel.predicted,
                s=6,
                alpha=0.5,
                color=ctx.color(panel.model),
                rasterized=True,
            )
        lo = min(panel.true.min(), panel.predicted.min())
        hi = max(panel.true.max(), panel.predicted.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel("true score")
        ax.set_ylabel("predicted score")
        ax.set_title(
            f"{panel.model} ({panel.job_id})\nr = {panel.pearson:.3f}, "
            f"MSE = {panel.mse:.3f}, n = {len(panel.true)}",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
    fig.suptitle(record.title)
    return fig
