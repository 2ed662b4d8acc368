"""Replicate spread: per configuration with several replicates, the mean of the metric as a
point with error bars of one standard deviation (replicates.csv holds every test metric)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from dmsweep.aggregate.design import label
from dmsweep.aggregate.plots._common import PlotContext, format_level, new_figure

FAMILY = "replicates"
MAX_BARS = 40
"""Configurations drawn at most (the best by mean): more bars cannot be read."""


@dataclass(frozen=True)
class ReplicateBars:
    name: str
    title: str
    caption: str
    metric: str
    labels: tuple[str, ...]
    models: tuple[str, ...]
    means: tuple[float, ...]
    sds: tuple[float, ...]
    counts: tuple[int, ...]


def compute(ctx: PlotContext) -> list[ReplicateBars]:
    """One record when some configuration has two or more replicates, else none."""
    bars: list[tuple[str, str, float, float, int]] = []
    for model in ctx.models:
        rows = ctx.rows(model)
        axes = ctx.axes[model]
        for _, group in rows.groupby(ctx.config_ids(model), sort=True):
            y = group[ctx.metric].astype(float).to_numpy()
            y = y[np.isfinite(y)]
            if len(y) < 2:
                continue
            values = ", ".join(f"{a}={format_level(group[a].iloc[0])}" for a in axes)
            name = f"{model}\n{values}" if values else model
            bars.append((name, model, float(y.mean()), float(y.std(ddof=1)), len(y)))
    if not bars:
        return []
    shown = bars
    if len(bars) > MAX_BARS:
        shown = sorted(bars, key=lambda b: b[2], reverse=True)[:MAX_BARS]
    note = f" The {MAX_BARS} best of {len(bars)} configurations." if len(bars) > MAX_BARS else ""
    return [
        ReplicateBars(
            name="replicate_spread",
            title=f"Replicates: {label(ctx.metric)}, mean ± SD",
            caption=(
                f"Per configuration with two or more valid replicates (trainings that differ "
                f"only in seed, split seed or split replicate; n below each bar): the mean "
                f"{label(ctx.metric)} and one sample standard deviation. replicates.csv has "
                f"mean, SD and n of every test metric.{note}"
            ),
            metric=ctx.metric,
            labels=tuple(b[0] for b in shown),
            models=tuple(b[1] for b in shown),
            means=tuple(b[2] for b in shown),
            sds=tuple(b[3] for b in shown),
            counts=tuple(b[4] for b in shown),
        )
    ]


def draw(record: ReplicateBars, ctx: PlotContext) -> Figure:
    fig, (ax,) = new_figure(1, size=(max(4.5, 1.1 * len(record.labels)), 4.2))
    x = np.arange(len(record.labels))
    for i, (model, mean, sd) in enumerate(
        zip(record.models, record.means, record.sds, strict=True)
    ):  # points with error bars: a bar from zero would hide a spread of 0.004
        ax.errorbar(i, mean, yerr=sd, fmt="o", color=ctx.color(model), capsize=5, markersize=7)
    names = [f"{n}\n(n={c})" for n, c in zip(record.labels, record.counts, strict=True)]
    ax.set_xticks(x, names, fontsize=8)
    low = min(m - s for m, s in zip(record.means, record.sds, strict=True))
    high = max(m + s for m, s in zip(record.means, record.sds, strict=True))
    pad = 0.15 * max(high - low, 1e-3)
    ax.set_ylim(low - pad, high + pad)
    ax.set_xlim(-0.6, len(record.labels) - 0.4)
    ax.set_ylabel(label(record.metric))
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(record.title)
    return fig
