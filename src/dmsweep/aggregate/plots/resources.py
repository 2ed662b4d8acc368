"""Runtime and memory against the swept parameters, per model type: what to request for the
next sweep. Uses every training with a metrics.json (diverged ones cost resources too),
the report's table of percentiles per model type is `table.resource_table`."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
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
    """One figure per model type, or per model type and device when trainings of one type
    ran on several devices (a CPU's and a GPU's runtimes are not one distribution)."""
    resources = available_resources(ctx.data)
    figures = []
    for model in ctx.models:
        axes = ctx.axes[model]
        if not axes or not resources:
            continue
        rows, ids = ctx.rows(model), ctx.config_ids(model)
        devices = _devices(rows)
        for device in devices:
            on = rows if device is None else rows[rows["device"].eq(device)]
            effects = tuple(effect(on, a, r, ids[on.index], model) for r in resources for a in axes)
            figures.append(_figure(model, device, resources, axes, effects))
    return figures


def _devices(rows: pd.DataFrame) -> list[str | None]:
    """The devices to split by: [None] (no split) unless the rows name two or more."""
    if "device" not in rows.columns:
        return [None]
    named = sorted(rows["device"].dropna().unique().tolist())
    return named if len(named) > 1 else [None]


def _figure(
    model: str,
    device: str | None,
    resources: tuple[str, ...],
    axes: tuple[str, ...],
    effects: tuple[Effect, ...],
) -> ResourcesFigure:
    on = "" if device is None else f" on {device}"
    return ResourcesFigure(
        name=f"resources_{model}" + ("" if device is None else f"_{_slug(device)}"),
        title=f"{model}{on}: runtime and memory vs each swept parameter",
        caption=(
            "Per training: total runtime (metrics.json timings), peak memory of the "
            "training process, and the memory HTCondor measured for its job (a batch of "
            "trainings) where a run folder was given. Line: mean with 95% t-interval."
            + ("" if device is None else f" Only trainings{on} (the device column).")
        ),
        model=model,
        resources=resources,
        axes=axes,
        effects=effects,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "device"


def draw(record: ResourcesFigure, ctx: PlotContext) -> Figure:
    fig, axes = new_figure(len(record.effects), ncols=len(record.axes), size=(4.0, 3.0))
    for ax, eff in zip(axes, record.effects, strict=True):
        draw_effect(ax, eff, color=ctx.color(record.model))
    fig.suptitle(record.title)
    return fig
