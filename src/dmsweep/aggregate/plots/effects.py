"""Metric vs each swept hyperparameter, per model type, with the spread over seeds/resamples.

One figure per model type, one panel per swept axis. Each training is a point; per value
of the axis (or per quantile bin of a continuous one) the line is the mean with its 95%
t-interval (error bars), and the band is ± the replicate SD: how much the metric moves
between seeds/resamples of one configuration at that value. An effect much wider than the
band is real; one inside it is luck.

Both stay inside what the metric can take (`design.value_range`: a correlation within
[-1, 1], an MSE or a runtime above 0), and neither is drawn from fewer than MIN_SPREAD
values: a t-interval of two values is 12.7 SDs wide and tells nothing, so the points alone
are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dmsweep.aggregate.design import (
    is_numeric,
    label,
    levels,
    t_interval,
    use_log_scale,
    value_range,
)
from dmsweep.aggregate.plots._common import (
    PlotContext,
    format_level,
    level_order,
    new_figure,
    set_axis,
)

FAMILY = "effects"
MIN_SPREAD = 3
"""Fewest values behind an error bar (trainings at a level) or a band (replicates of a
configuration)."""


@dataclass(frozen=True)
class Level:
    value: float | str
    n: int
    mean: float
    low: float
    high: float
    """95% t-interval of the mean, clipped to the range of `y`; NaN with fewer than
    MIN_SPREAD trainings."""
    replicate_sd: float
    """Mean over configurations at this value of the SD across their replicates (NaN: no
    configuration with MIN_SPREAD replicates)."""
    band_low: float
    band_high: float
    """mean ± replicate_sd, clipped to the range of `y` (NaN with replicate_sd)."""


@dataclass(frozen=True)
class Effect:
    """How `y` varies along one axis for one model type."""

    model: str
    axis: str
    y: str
    numeric: bool
    log: bool
    levels: tuple[Level, ...]
    x: np.ndarray
    """Per training: its axis value (numeric) or level index (categorical)."""
    values: np.ndarray
    """Per training: its `y`."""


@dataclass(frozen=True)
class EffectsFigure:
    name: str
    title: str
    caption: str
    model: str
    effects: tuple[Effect, ...]


def effect(rows: pd.DataFrame, axis: str, y: str, config_ids: pd.Series, model: str) -> Effect:
    """Group `rows` by `axis` (binned when continuous) and summarise `y` per group."""
    keep = rows[axis].notna() & np.isfinite(pd.to_numeric(rows[y], errors="coerce"))
    rows, config_ids = rows[keep], config_ids[keep]
    numeric = is_numeric(rows[axis])
    groups = levels(rows[axis])
    values = rows[y].astype(float)
    out = [
        _level(value, values[(groups == value).to_numpy()], config_ids, value_range(y))
        for value in level_order(groups)
    ]
    if numeric:
        x = rows[axis].astype(float).to_numpy()
    else:
        index = {level.value: i for i, level in enumerate(out)}
        x = groups.map(index).astype(float).to_numpy()
    return Effect(
        model=model,
        axis=axis,
        y=y,
        numeric=numeric,
        log=use_log_scale(rows[axis]) if numeric else False,
        levels=tuple(out),
        x=x,
        values=values.to_numpy(),
    )


def _level(value, values: pd.Series, config_ids: pd.Series, bounds) -> Level:
    """One level's mean, its interval and the replicate band, kept within `bounds`."""
    low_bound, high_bound = bounds
    mean, low, high = t_interval(values.to_numpy())
    if len(values) < MIN_SPREAD:
        low = high = np.nan
    groups = values.groupby(config_ids[values.index])
    sds = groups.std(ddof=1)[groups.count() >= MIN_SPREAD].dropna()
    sd = float(sds.mean()) if len(sds) else np.nan
    return Level(
        value=value,
        n=len(values),
        mean=mean,
        low=_clip(low, low_bound, high_bound),
        high=_clip(high, low_bound, high_bound),
        replicate_sd=sd,
        band_low=_clip(mean - sd, low_bound, high_bound),
        band_high=_clip(mean + sd, low_bound, high_bound),
    )


def _clip(value: float, low: float, high: float) -> float:
    return float(np.clip(value, low, high)) if np.isfinite(value) else np.nan


def compute(ctx: PlotContext) -> list[EffectsFigure]:
    figures = []
    for model in ctx.models:
        axes = ctx.axes[model]
        if not axes:
            continue
        rows, ids = ctx.rows(model), ctx.config_ids(model)
        effects = tuple(effect(rows, axis, ctx.metric, ids, model) for axis in axes)
        figures.append(
            EffectsFigure(
                name=f"effects_{model}",
                title=f"{model}: {label(ctx.metric)} vs each swept parameter",
                caption=(
                    "Points: trainings. Line and error bars: mean and 95% t-interval per value "
                    "(per quantile bin for continuous parameters). Band: ± SD over seeds and "
                    "resamples of one configuration (mean over configurations). Both only "
                    f"from {MIN_SPREAD}+ values, and within the metric's possible range."
                ),
                model=model,
                effects=effects,
            )
        )
    return figures


def draw(record: EffectsFigure, ctx: PlotContext) -> Figure:
    fig, axes = new_figure(len(record.effects))
    for ax, eff in zip(axes, record.effects, strict=True):
        draw_effect(ax, eff, color=ctx.color(record.model))
    fig.suptitle(record.title)
    return fig


def draw_effect(ax, eff: Effect, *, color: str) -> None:
    """One panel: points, mean ± CI, ± replicate-SD band; readable tick labels."""
    rng = np.random.default_rng(0)
    if eff.numeric:
        xs = np.array([float(level.value) for level in eff.levels])
        px = eff.x
    else:
        xs = np.arange(len(eff.levels), dtype=float)
        px = eff.x + rng.uniform(-0.15, 0.15, len(eff.x))
    means, low, high, band_low, band_high = (
        np.array([getattr(level, field) for level in eff.levels])
        for field in ("mean", "low", "high", "band_low", "band_high")
    )
    spread = np.isfinite(low).any() or np.isfinite(band_low).any()
    ax.scatter(
        px,
        eff.values,
        s=10 if spread else 16,
        alpha=0.5 if spread else 0.8,
        color=color,
        linewidths=0,
        rasterized=True,
    )
    if np.isfinite(band_low).any():
        ax.fill_between(
            xs, band_low, band_high, where=np.isfinite(band_low), color=color, alpha=0.15, lw=0
        )
    # vlines, not errorbar: errorbar with array errors warns under NumPy 1.25+ (matplotlib 3.11)
    bars = np.isfinite(low)
    ax.vlines(xs[bars], low[bars], high[bars], color="k", lw=1)
    ax.plot(xs, means, color="k", marker="o", ms=4, lw=1)
    set_axis(ax, eff.axis, log=eff.log)
    ax.set_ylabel(label(eff.y))
    if not eff.numeric:
        ax.set_xticks(xs, [format_level(level.value) for level in eff.levels])
        if sum(len(format_level(level.value)) for level in eff.levels) > 40:
            ax.tick_params(axis="x", labelrotation=30)
    ax.grid(alpha=0.3)
