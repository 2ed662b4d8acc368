"""Hyperparameter importance with an uncertainty from the seeds and resamples.

Method (per model type, on the valid trainings, metric = the plotted metric):
- importance of a parameter = the fraction of the metric's variance explained by its main
  effect, η² = Σ_levels n_l (mean_l - mean)² / Σ (y - mean)², with continuous parameters
  in quantile bins (design.levels). On a full grid the main effects add up to at most the
  explained variance; on a random design correlated parameters share credit.
- replicate noise = the fraction of variance within configurations (rows that differ only
  in seed, split seed or split replicate): what luck alone moves. NaN without replicates.
- uncertainty = a 95% percentile interval over BOOTSTRAP cluster-bootstrap draws: the
  replicate ids (seed, split seed, split replicate) are resampled with replacement and each
  training is weighted by how often its replicate id was drawn, so the interval shows how
  much the ranking would change with other seeds/resamples. With a single replicate id the
  trainings themselves are resampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dmsweep.aggregate.design import label, levels
from dmsweep.aggregate.plots._common import PlotContext, new_figure

FAMILY = "importance"
BOOTSTRAP = 200
SEED = 0
NOISE = "seed / resample noise"


@dataclass(frozen=True)
class Importance:
    model: str
    metric: str
    parameters: tuple[str, ...]
    share: np.ndarray
    """η² of each parameter on the data as it is."""
    low: np.ndarray
    high: np.ndarray
    noise: tuple[float, float, float]
    """(share, low, high) of the within-configuration variance."""
    resampled: str
    """'replicates' (cluster bootstrap) or 'trainings'."""
    n: int


@dataclass(frozen=True)
class ImportanceFigure:
    name: str
    title: str
    caption: str
    panels: tuple[Importance, ...]


def variance_shares(y: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """η² of each grouping (codes: one row of group codes per grouping) under row weights.

    `weights` has shape (draws, n): one weighted estimate per draw; returns (draws, groupings).
    """
    total_w = weights.sum(axis=1, keepdims=True)
    mean = (weights * y).sum(axis=1, keepdims=True) / total_w
    total = (weights * (y - mean) ** 2).sum(axis=1)
    out = np.empty((weights.shape[0], codes.shape[0]))
    for g, code in enumerate(codes):
        k = int(code.max()) + 1
        for d, w in enumerate(weights):
            wk = np.bincount(code, w, minlength=k)
            sk = np.bincount(code, w * y, minlength=k)
            with np.errstate(invalid="ignore", divide="ignore"):
                mk = np.where(wk > 0, sk / wk, 0.0)
            out[d, g] = (wk * (mk - mean[d, 0]) ** 2).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / total[:, None]


def importance(rows: pd.DataFrame, axes, metric: str, replicates, model: str) -> Importance | None:
    y = rows[metric].astype(float)
    keep = np.isfinite(y).to_numpy()
    rows, y = rows[keep], y[keep].to_numpy()
    if len(y) < 4 or np.var(y) == 0:
        return None
    codes = [pd.factorize(levels(rows[a]), use_na_sentinel=False)[0] for a in axes]
    config = rows.groupby(list(axes), dropna=False, sort=False).ngroup().to_numpy()
    has_replicates = len(np.unique(config)) < len(config)
    codes.append(config)
    codes = np.asarray(codes)
    rep_cols = [c for c in replicates if c in rows.columns]
    rep_ids = (
        rows.groupby(rep_cols, dropna=False, sort=False).ngroup().to_numpy()
        if rep_cols
        else np.zeros(len(y), dtype=int)
    )
    rng = np.random.default_rng(SEED)
    n_ids = int(rep_ids.max()) + 1
    if n_ids > 1:
        draws = rng.integers(0, n_ids, size=(BOOTSTRAP, n_ids))
        counts = np.stack([np.bincount(d, minlength=n_ids) for d in draws])
        weights = counts[:, rep_ids].astype(float)
        resampled = "replicates"
    else:
        draws = rng.integers(0, len(y), size=(BOOTSTRAP, len(y)))
        weights = np.stack([np.bincount(d, minlength=len(y)) for d in draws]).astype(float)
        resampled = "trainings"
    point = variance_shares(y, codes, np.ones((1, len(y))))[0]
    boot = variance_shares(y, codes, weights)
    low, high = np.clip(np.nanpercentile(boot, [2.5, 97.5], axis=0), 0, 1)
    # Within-configuration share = 1 - between-configuration share.
    noise = (1 - point[-1], 1 - high[-1], 1 - low[-1]) if has_replicates else (np.nan,) * 3
    return Importance(
        model=model,
        metric=metric,
        parameters=tuple(axes),
        share=point[:-1],
        low=low[:-1],
        high=high[:-1],
        noise=tuple(float(v) for v in noise),
        resampled=resampled,
        n=len(y),
    )


def compute(ctx: PlotContext) -> list[ImportanceFigure]:
    panels = []
    for model in ctx.models:
        if ctx.axes[model]:
            result = importance(ctx.rows(model), ctx.axes[model], ctx.metric, ctx.replicates, model)
            if result is not None:
                panels.append(result)
    if not panels:
        return []
    return [
        ImportanceFigure(
            name="importance",
            title=f"Hyperparameter importance for {label(ctx.metric)}",
            caption=(
                "Fraction of the variance explained by each parameter's main effect (η²; "
                "continuous parameters in quantile bins), with a 95% interval from "
                f"{BOOTSTRAP} cluster-bootstrap draws over seeds/resamples. Grey: the share "
                "within configurations (seed and resample noise). See docs/aggregate.md."
            ),
            panels=tuple(panels),
        )
    ]


BAR_CENTRE, BAR_HEIGHT = 0.08, 0.45
"""Where a bar sits in its row (offset of its centre from the row's tick, height)."""
WHISKER, CAP = -0.32, 0.08
"""Where its interval sits: below the bar, so that an interval spanning 0..1 never reads as
a line struck through the bar; the caps' half height."""


def draw_shares(ax, y: np.ndarray, share, low, high, colors) -> None:
    """Bars of the shares, and each 95% interval as a capped line under its own bar."""
    ax.barh(y + BAR_CENTRE, share, height=BAR_HEIGHT, color=colors, alpha=0.8)
    ax.hlines(y + WHISKER, low, high, color="0.25", lw=1.2)
    ax.vlines([*low, *high], *(np.tile(y + WHISKER, 2) + d for d in (-CAP, CAP)), color="0.25")
    ax.plot(share, y + WHISKER, "o", color="0.25", ms=3)
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)


def draw(record: ImportanceFigure, ctx: PlotContext) -> Figure:
    fig, axes = new_figure(len(record.panels), ncols=2, size=(5.2, 3.4))
    for ax, panel in zip(axes, record.panels, strict=True):
        names = [label(p) for p in panel.parameters]
        share, low, high = panel.share, panel.low, panel.high
        colors = [ctx.color(panel.model)] * len(names)
        if np.isfinite(panel.noise[0]):
            names.append(NOISE)
            share = np.append(share, panel.noise[0])
            low = np.append(low, panel.noise[1])
            high = np.append(high, panel.noise[2])
            colors.append("#999999")
        y = np.arange(len(names))[::-1].astype(float)
        draw_shares(ax, y, share, low, high, colors)
        ticks = zip(names, share, low, high, strict=True)
        ax.set_yticks(y, [f"{n}\n{s:.2f} [{a:.2f}, {b:.2f}]" for n, s, a, b in ticks])
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"fraction of variance of {label(panel.metric)}")
        ax.set_title(f"{panel.model} (n = {panel.n}, resampled: {panel.resampled})", fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(record.title)
    return fig
