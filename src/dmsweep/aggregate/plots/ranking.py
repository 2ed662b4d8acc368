"""Ranking quality of the top-N variants: top-20 and top-100 overlap and NDCG@100 on the test
set, per model type, with the job chosen by model selection marked. Only metrics that the
results hold are drawn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from dmsweep.aggregate.design import label
from dmsweep.aggregate.plots._common import PlotContext, new_figure

FAMILY = "ranking"
RANKING_METRICS = ("test_top20_overlap", "test_top100_overlap", "test_ndcg100")


@dataclass(frozen=True)
class RankingQuality:
    name: str
    title: str
    caption: str
    metrics: tuple[str, ...]
    models: tuple[str, ...]
    values: dict[tuple[str, str], np.ndarray]
    """(metric, model) -> the metric of every valid training."""
    selected: dict[tuple[str, str], float]
    """(metric, model) -> the metric of the selected job."""


def compute(ctx: PlotContext) -> list[RankingQuality]:
    metrics = tuple(
        m for m in RANKING_METRICS if m in ctx.data.columns and ctx.data[m].notna().any()
    )
    if not metrics or not ctx.models:
        return []
    chosen = dict(zip(ctx.best["model"], ctx.best["job_id"], strict=True))
    values, selected = {}, {}
    for metric in metrics:
        for model in ctx.models:
            rows = ctx.rows(model)
            y = rows[metric].astype(float)
            values[metric, model] = y[np.isfinite(y)].to_numpy()
            match = y[rows["job_id"].eq(chosen.get(model))]
            selected[metric, model] = float(match.iloc[0]) if len(match) else np.nan
    return [
        RankingQuality(
            name="ranking_quality",
            title="Ranking quality of the top variants (test set)",
            caption=(
                "Top-K overlap: fraction of the true top-K variants among the predicted top K. "
                "NDCG@100: gain of the predicted top 100. Box: all valid trainings; star: the "
                "selected job of each model type."
            ),
            metrics=metrics,
            models=ctx.models,
            values=values,
            selected=selected,
        )
    ]


def draw(record: RankingQuality, ctx: PlotContext) -> Figure:
    fig, axes = new_figure(len(record.metrics), size=(max(3.8, 1.1 * len(record.models)), 3.6))
    positions = np.arange(len(record.models))
    for ax, metric in zip(axes, record.metrics, strict=True):
        data = [record.values[metric, m] for m in record.models]
        box = ax.boxplot(
            [d if len(d) else [np.nan] for d in data],
            positions=positions,
            widths=0.5,
            patch_artist=True,
            showfliers=False,
        )
        for i, model in enumerate(record.models):
            box["boxes"][i].set(facecolor=ctx.color(model), alpha=0.35)
        ax.scatter(
            positions,
            [record.selected[metric, m] for m in record.models],
            marker="*",
            s=140,
            color="k",
            zorder=3,
            label="selected job",
        )
        ax.set_xticks(positions, record.models)
        ax.set_xlabel(label("model"))
        ax.set_ylabel(label(metric))
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(record.title)
    return fig
