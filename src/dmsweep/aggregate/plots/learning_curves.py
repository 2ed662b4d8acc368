"""Learning curves: the metric against training-set size, per model type, with 95% bands.

Drawn for model types whose valid trainings used more than one training-set size (the
`train_n` of metrics.json: from train_fraction, reduced published splits or max_variants).
At each size the configuration with the best mean selection metric (model selection as
published, done per size) is taken; the line is the mean of the plotted metric over its
seeds/resamples and the band its 95% t-interval (no band with one replicate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from dmsweep.aggregate.design import (
    SPLIT_FAMILY,
    configuration_key,
    label,
    lower_is_better,
    t_interval,
)
from dmsweep.aggregate.plots._common import PlotContext, new_figure

FAMILY = "learning_curves"
SIZE = "train_n"
SIZE_AXES = frozenset({"train_fraction", SPLIT_FAMILY, "split", "max_variants"})
MAX_SIZES = 40


@dataclass(frozen=True)
class LearningCurve:
    model: str
    sizes: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    """Replicates behind each point."""
    jobs: tuple[str, ...]
    """At each size, one job of the selected configuration (its best replicate)."""


@dataclass(frozen=True)
class LearningCurves:
    name: str
    title: str
    caption: str
    metric: str
    curves: tuple[LearningCurve, ...]


def compute(ctx: PlotContext) -> list[LearningCurves]:
    if SIZE not in ctx.data.columns:
        return []
    curves = []
    for model in ctx.models:
        rows = ctx.rows(model)
        rows = rows[np.isfinite(rows[SIZE].astype(float))]
        sizes = np.sort(rows[SIZE].astype(float).unique())
        if not 2 <= len(sizes) <= MAX_SIZES:
            continue
        others = [a for a in ctx.axes[model] if a not in SIZE_AXES]
        points = []
        for size in sizes:
            at = rows[rows[SIZE].astype(float).eq(size)]
            chosen = _best_configuration(at, others, ctx.select_metric)
            if chosen.empty:
                continue
            mean, low, high = t_interval(chosen[ctx.metric].to_numpy(dtype=float))
            ascending = lower_is_better(ctx.select_metric)
            job = chosen.sort_values(ctx.select_metric, ascending=ascending)["job_id"].iloc[0]
            points.append((size, mean, low, high, len(chosen), job))
        if len(points) >= 2:
            cols = list(zip(*points, strict=True))
            curves.append(
                LearningCurve(model, *(np.array(c, dtype=float) for c in cols[:5]), tuple(cols[5]))
            )
    if not curves:
        return []
    return [
        LearningCurves(
            name="learning_curves",
            title=f"Learning curves: {label(ctx.metric)} vs training-set size",
            caption=(
                f"At each size, the configuration with the best mean {label(ctx.select_metric)} "
                "over its replicates; line: mean over its seeds/resamples, band: 95% t-interval."
            ),
            metric=ctx.metric,
            curves=tuple(curves),
        )
    ]


def _best_configuration(rows, axes, select_metric):
    score = rows[select_metric].astype(float)
    rows = rows[np.isfinite(score)]
    if rows.empty:
        return rows
    ids = configuration_key(rows, axes)
    means = rows[select_metric].astype(float).groupby(ids).mean()
    best = means.idxmin() if lower_is_better(select_metric) else means.idxmax()
    return rows[ids.eq(best)]


def draw(record: LearningCurves, ctx: PlotContext) -> Figure:
    fig, (ax,) = new_figure(1, size=(6.0, 4.2))
    for curve in record.curves:
        color = ctx.color(curve.model)
        ax.plot(curve.sizes, curve.mean, marker="o", color=color, label=curve.model)
        ax.fill_between(curve.sizes, curve.low, curve.high, color=color, alpha=0.2, linewidth=0)
    sizes = np.concatenate([c.sizes for c in record.curves])
    if sizes.min() > 0 and sizes.max() / sizes.min() >= 20:
        ax.set_xscale("log")
    ax.set_xlabel(label(SIZE))
    ax.set_ylabel(label(record.metric))
    ax.legend(title=label("model"), fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(record.title)
    return fig
