"""Two-parameter interactions: per model type, a heatmap of the mean metric for each pair of
swept axes (continuous axes in quantile bins), averaged over everything else.

A pattern that is not the sum of the two marginal effects (a diagonal ridge, a cell that
breaks the trend) is an interaction: tune those two parameters together.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from dmsweep.aggregate.design import MAX_LEVELS, label, levels
from dmsweep.aggregate.plots._common import PlotContext, format_level, level_order, new_figure

FAMILY = "interactions"
MAX_PAIRS = 12


@dataclass(frozen=True)
class Heatmap:
    model: str
    rows: str
    columns: str
    row_levels: tuple
    column_levels: tuple
    mean: np.ndarray
    """mean[i, j]: mean metric at row level i and column level j (NaN: no training)."""
    count: np.ndarray


@dataclass(frozen=True)
class InteractionsFigure:
    name: str
    title: str
    caption: str
    model: str
    metric: str
    heatmaps: tuple[Heatmap, ...]


def compute(ctx: PlotContext) -> list[InteractionsFigure]:
    figures = []
    for model in ctx.models:
        rows = ctx.rows(model)
        grouped = {axis: levels(rows[axis]) for axis in ctx.axes[model]}
        usable = [a for a, g in grouped.items() if g.nunique() <= MAX_LEVELS]
        pairs = list(itertools.combinations(usable, 2))[:MAX_PAIRS]
        if not pairs:
            continue
        y = rows[ctx.metric].astype(float)
        heatmaps = []
        for a, b in pairs:
            ra, rb = level_order(grouped[a]), level_order(grouped[b])
            mean = np.full((len(ra), len(rb)), np.nan)
            count = np.zeros((len(ra), len(rb)), dtype=int)
            table = y.groupby([grouped[a], grouped[b]]).agg(["mean", "count"])
            for (va, vb), row in table.iterrows():
                i, j = ra.index(va), rb.index(vb)
                mean[i, j], count[i, j] = row["mean"], int(row["count"])
            heatmaps.append(Heatmap(model, a, b, tuple(ra), tuple(rb), mean, count))
        figures.append(
            InteractionsFigure(
                name=f"interactions_{model}",
                title=f"{model}: mean {label(ctx.metric)} for pairs of parameters",
                caption=(
                    "Each cell: mean over all trainings with that pair of values (other "
                    "parameters, seeds and resamples averaged); blank: no training."
                ),
                model=model,
                metric=ctx.metric,
                heatmaps=tuple(heatmaps),
            )
        )
    return figures


def draw(record: InteractionsFigure, ctx: PlotContext) -> Figure:
    fig, axes = new_figure(len(record.heatmaps), ncols=3, size=(4.4, 3.8))
    finite = np.concatenate([h.mean[np.isfinite(h.mean)] for h in record.heatmaps])
    vmin, vmax = (finite.min(), finite.max()) if len(finite) else (0, 1)
    image = None
    for ax, heat in zip(axes, record.heatmaps, strict=True):
        image = ax.imshow(heat.mean, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_yticks(range(len(heat.row_levels)), [format_level(v) for v in heat.row_levels])
        columns = [format_level(v) for v in heat.column_levels]
        ax.set_xticks(range(len(columns)), columns)
        if sum(map(len, columns)) > 30:
            ax.tick_params(axis="x", labelrotation=40)
        ax.set_ylabel(label(heat.rows))
        ax.set_xlabel(label(heat.columns))
        if heat.mean.size <= 64:
            for (i, j), value in np.ndenumerate(heat.mean):
                if np.isfinite(value):
                    light = value < (vmin + vmax) / 2
                    ax.text(
                        j,
                        i,
                        f"{value:.3g}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="w" if light else "k",
                    )
    if image is not None:
        fig.colorbar(image, ax=axes, label=label(record.metric), shrink=0.8)
    fig.suptitle(record.title)
    return fig
