"""Runtime and memory against the swept parameters, per model type: what to request for the
next sweep. Uses every training with a metrics.json (diverged ones cost resources too),
the report's table of percentiles per model type is `table.resource_table`."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from dmsweep.aggregate.plots._common import PlotContext, new_figure
from dmsweep.aggregate.plots.effects import Effect, draw_effect, effect
from dmsweep.aggregate.table import available_resources

FAMILY = "resources"


@dataclass(frozen=True)
class ResourcesFigure:
    name: str
    title: str
    caption: str
    model: str
    resources: tuple[str, ...]
    axes: tuple[str, ...]
    effects: tuple[Effect, ...]
    """Row-major: for each resource, for each axis."""


def compute(ctx: PlotContext) -> list[ResourcesFigure]:
    resources = available_resources(ctx.data)
    figures = []
    for model in ctx.models:
        axes = ctx.axes[model]
        if not axes or not resources:
            continue
        rows, ids = ctx.rows(model), ctx.config_ids(model)
        effects = tuple(effect(rows, a, r, ids, model) for r in resources for a in axes)
        figures.append(
            ResourcesFigure(
                name=f"resources_{model}",
                title=f"{model}: runtime and memory vs each swept parameter",
                caption=(
                    "Per training: total runtime (metrics.json timings), peak memory of the "
                    "training process, and the memory HTCondor measured for its job (a batch of "
                    "trainings) where a run folder was given. Line: mean with 95% t-interval."
                ),
                model=model,
                resources=resources,
                axes=axes,
                effects=effects,
            )
        )
    return figures


def draw(record: ResourcesFigure, ctx: PlotContext) -> Figure:
    fig, axes = new_figure(len(record.effects), ncols=len(record.axes), size=(4.0, 3.0))
    for ax, eff in zip(axes, record.effects, strict=True):
        draw_effect(ax, eff, color=ctx.color(record.model))
    fig.suptitle(record.title)
    return fig
