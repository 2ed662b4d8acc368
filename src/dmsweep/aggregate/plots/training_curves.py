"""Training curves (history.csv: train and tune loss per epoch) of the selected job of each
model type, with the best epoch (whose weights were kept) marked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dmsweep import jobfiles
from dmsweep.aggregate.plots._common import PlotContext, new_figure

FAMILY = "training_curves"


@dataclass(frozen=True)
class TrainingCurve:
    model: str
    job_id: str
    epoch: np.ndarray
    train_loss: np.ndarray
    tune_loss: np.ndarray
    best_epoch: float


@dataclass(frozen=True)
class TrainingCurvesFigure:
    name: str
    title: str
    caption: str
    curves: tuple[TrainingCurve, ...]
    problems: tuple[str, ...]


def read_history(folder: Path) -> pd.DataFrame:
    """history.csv of a job folder: epoch, train_loss, tune_loss (numbers; NaN if missing)."""
    table = pd.read_csv(jobfiles.JobPaths(Path(folder)).history)
    for column in ("epoch", "train_loss", "tune_loss"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def compute(ctx: PlotContext) -> list[TrainingCurvesFigure]:
    curves, problems = [], []
    by_job = ctx.data.set_index("job_id")
    for model, job, folder in zip(
        ctx.best["model"], ctx.best["job_id"], ctx.best["folder"], strict=True
    ):
        try:
            history = read_history(Path(folder))
        except (OSError, ValueError, KeyError) as err:
            problems.append(f"{job}: {jobfiles.HISTORY} not read ({type(err).__name__}: {err})")
            continue
        best = by_job["best_epoch"].get(job, np.nan) if "best_epoch" in by_job else np.nan
        curves.append(
            TrainingCurve(
                model,
                job,
                history["epoch"].to_numpy(dtype=float),
                history["train_loss"].to_numpy(dtype=float),
                history["tune_loss"].to_numpy(dtype=float),
                float(best),
            )
        )
    if not curves and not problems:
        return []
    return [
        TrainingCurvesFigure(
            name="training_curves",
            title="Training curves of the selected job of each model type",
            caption="Loss (MSE) per epoch on the training and tune sets; dotted: best epoch.",
            curves=tuple(curves),
            problems=tuple(problems),
        )
    ]


def draw(record: TrainingCurvesFigure, ctx: PlotContext) -> Figure | None:
    if not record.curves:
        return None
    fig, axes = new_figure(len(record.curves), ncols=4, size=(3.8, 3.2))
    for ax, curve in zip(axes, record.curves, strict=True):
        color = ctx.color(curve.model)
        ax.plot(curve.epoch, curve.train_loss, color=color, label="train")
        ax.plot(curve.epoch, curve.tune_loss, color=color, ls="--", label="tune")
        if np.isfinite(curve.best_epoch):
            ax.axvline(curve.best_epoch, color="k", ls=":", lw=1, label="best epoch")
        losses = np.concatenate([curve.train_loss, curve.tune_loss])
        losses = losses[np.isfinite(losses)]
        if len(losses) and losses.min() > 0 and losses.max() / losses.min() > 30:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (MSE)")
        ax.set_title(f"{curve.model} ({curve.job_id})", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(record.title)
    return fig
