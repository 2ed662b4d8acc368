"""Model type comparison: the distribution of the metric over every valid training of each
model type, with the job chosen by model selection marked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from dmsweep.aggregate.design import label
from dmsweep.aggregate.plots._common import PlotContext, new_figure

FAMILY = "models"


@dataclass(frozen=True)
class ModelComparison:
    name: str
    title: str
    caption: str
    metric: str
    models: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    """Per model type: the metric of each valid training."""
    selected: tuple[float, ...]
    """Per model type: the metric of the job chosen by model selection (NaN: none)."""


def compute(ctx: PlotContext) -> list[ModelComparison]:
    if not ctx.models:
        return []
    values, selected = [], []
    chosen = dict(zip(ctx.best["model"], ctx.best["job_id"], strict=True))
    for model in ctx.models:
        rows = ctx.rows(model)
        y = rows[ctx.metric].astype(float)
        values.append(y[np.isfinite(y)].to_numpy())
        job = chosen.get(model)
        match = y[rows["job_id"].eq(job)] if job else y.iloc[:0]
        selected.append(float(match.iloc[0]) if len(match) else np.nan)
    return [
        ModelComparison(
            name="model_comparison",
            title=f"Model types: {label(ctx.metric)}",
            caption=(
                f"Box: every valid training of each model type (n below the name). Star: the "
                f"job chosen by model selection (best mean {label(ctx.select_metric)})."
            ),
            metric=ctx.metric,
            models=ctx.models,
            values=tuple(values),
            selected=tuple(selected),
        )
    ]


def draw(record: ModelComparison, ctx: PlotContext) -> Figure:
    fig, (ax,) = new_figure(1, size=(max(4.5, 1.4 * len(record.models)), 4.0))
    positions = np.arange(len(record.models))
    box = ax.boxplot(
        [v if len(v) else [np.nan] for v in record.values],
        positions=positions,
        widths=0.5,
        patch_artist=True,
        showfliers=False,
    )
    rng = np.random.default_rng(0)
    for i, (model, values) in enumerate(zip(record.models, record.values, strict=True)):
        box["boxes"][i].set(facecolor=ctx.color(model), alpha=0.35)
        jitter = rng.uniform(-0.18, 0.18, len(values))
        ax.scatter(i + jitter, values, s=6, color=ctx.color(model), alpha=0.4, rasterized=True)
    ax.scatter(
        positions, record.selected, marker="*", s=160, color="k", zorder=3, label="selected job"
    )
    names = [f"{m}\n(n={len(v)})" for m, v in zip(record.models, record.values, strict=True)]
    ax.set_xticks(positions, names)
    ax.set_xlabel(label("model"))
    ax.set_ylabel(label(record.metric))
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(record.title)
    return fig
