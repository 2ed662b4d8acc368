"""Learning curves: the metric against training-set size, per model type, with 95% bands.

Drawn for model types whose valid trainings used more than one training-set size (the
`train_n` of metrics.json: from train_fraction, reduced published splits or max_variants).
At each size the configuration with the best mean selection metric (model selection as
published, done per size) is taken; the line is the mean of the plotted metric over its
seeds/resamples and the band its 95% t-interval, clipped to the metric's possible range;
at a size with fewer than MIN_SPREAD replicates there is no band but the replicates' points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dmsweep.aggregate.design import (
    SPLIT_FAMILY,
    configuration_key,
    label,
    lower_is_better,
    t_interval,
    use_log_scale,
    value_range,
)
from dmsweep.aggregate.plots._common import PlotContext, new_figure, set_axis
from dmsweep.aggregate.plots.effects import MIN_SPREAD

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
    """Replicates behind each point; `low`/`high` are NaN where fewer than MIN_SPREAD."""
    replicates: tuple[np.ndarray, ...]
    """At each size, the metric of each replicate (drawn as points where there is no band)."""
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
            values = chosen[ctx.metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            mean, low, high = t_interval(values)
            if len(values) < MIN_SPREAD:
                low = high = np.nan
            low, high = np.clip([low, high], *value_range(ctx.metric))
            ascending = lower_is_better(ctx.select_metric)
            job = chosen.sort_values(ctx.select_metric, ascending=ascending)["job_id"].iloc[0]
            points.append((size, mean, low, high, len(values), job, values))
        if len(points) >= 2:
            cols = list(zip(*points, strict=True))
            curves.append(
                LearningCurve(
                    model,
                    *(np.array(c, dtype=float) for c in cols[:5]),
                    jobs=tuple(cols[5]),
                    replicates=tuple(cols[6]),
                )
            )
    if not curves:
        return []
    return [
        LearningCurves(
            name="learning_curves",
            title=f"Learning curves: {label(ctx.metric)} vs training-set size",
            caption=(
                f"At each size, the configuration with the best mean {label(ctx.select_metric)} "
                "over its replicates; line: mean over its seeds/resamples, band: 95% t-interval "
                f"(from {MIN_SPREAD}+ replicates, else their points)."
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
        band = np.isfinite(curve.low)
        ax.fill_between(
            curve.sizes, curve.low, curve.high, where=band, color=color, alpha=0.2, linewidth=0
        )
        for size, values, banded in zip(curve.sizes, curve.replicates, band, strict=True):
            if not banded:
                ax.scatter(np.full(len(values), size), values, s=12, color=color, alpha=0.6, lw=0)
    sizes = pd.Series(np.concatenate([c.sizes for c in record.curves]))
    set_axis(ax, SIZE, log=use_log_scale(sizes))
    ax.set_ylabel(label(record.metric))
    ax.legend(title=label("model"), fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(record.title)
    return fig
