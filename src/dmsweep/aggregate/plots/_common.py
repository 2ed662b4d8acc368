"""What every plot family shares: the analysis context, figure helpers and saving.

Each family module has `compute(ctx) -> list[record]` (small frozen dataclasses that tests
check) and `draw(record) -> Figure`. Figures are `matplotlib.figure.Figure` objects drawn
without pyplot (no GUI backend, no global state); PNG goes through Agg, SVG through the SVG
backend, with dense scatter layers rasterised so that SVG files stay small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from dmsweep.aggregate.design import (
    configuration_key,
    label,
    replicate_columns,
    swept_by_model,
    with_split_columns,
)
from dmsweep.config import MODEL_TYPES

DPI = 110
MIN_WIDTH = 6.5
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3")


@dataclass(frozen=True)
class PlotContext:
    """The valid results and what was swept, computed once for every plot family."""

    data: pd.DataFrame
    """Rows with status ok, plus split_family / split_replicate when splits repeat."""
    models: tuple[str, ...]
    axes: dict[str, tuple[str, ...]]
    """Model type -> its swept design axes."""
    metric: str
    select_metric: str
    best: pd.DataFrame
    """best_per_model(): one row per model type."""
    replicates: tuple[str, ...]

    @classmethod
    def build(
        cls,
        summary: pd.DataFrame,
        param_keys: Sequence[str],
        *,
        metric: str,
        select_metric: str,
        best: pd.DataFrame,
    ) -> PlotContext:
        data = with_split_columns(summary[summary["status"].eq("ok")])
        known = [m for m in MODEL_TYPES if m in set(data["model"])]
        models = (*known, *sorted(set(data["model"].dropna()) - set(known)))
        swept = swept_by_model(data, param_keys)
        axes = {m: swept.get(m, ()) for m in models}
        return cls(
            data=data,
            models=models,
            axes=axes,
            metric=metric,
            select_metric=select_metric,
            best=best,
            replicates=tuple(replicate_columns(data)),
        )

    def rows(self, model: str) -> pd.DataFrame:
        return self.data[self.data["model"].eq(model)]

    def config_ids(self, model: str) -> pd.Series:
        """Configuration id of each row of `model` (its swept axes; replicates differ)."""
        return configuration_key(self.rows(model), self.axes[model])

    def color(self, model: str) -> str:
        return PALETTE[self.models.index(model) % len(PALETTE)] if model in self.models else "k"


@dataclass(frozen=True)
class PlotFile:
    """One saved figure: where it is and what it shows (for the report)."""

    family: str
    name: str
    title: str
    caption: str
    files: tuple[Path, ...]


def new_figure(n_panels: int, *, ncols: int = 3, size: tuple[float, float] = (4.2, 3.4)):
    """A figure with `n_panels` axes in a grid (unused cells removed); returns (fig, axes)."""
    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    width = max(size[0] * ncols, MIN_WIDTH)  # room for the title above a single panel
    fig = Figure(figsize=(width, size[1] * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid[n_panels:]:
        ax.remove()
    return fig, list(grid[:n_panels])


def save_figure(fig: Figure, stem: Path, formats: Sequence[str]) -> tuple[Path, ...]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=DPI, format=fmt, metadata=_metadata(fmt))
        paths.append(path)
    return tuple(paths)


def _metadata(fmt: str) -> dict[str, str | None]:
    # No creation date: the same results give byte-identical plots.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": "dmsweep aggregate"}
    return {}


def set_axis(ax, column: str, *, log: bool = False, axis: str = "x") -> None:
    """Label an axis; on a log scale with ticks whose labels never overlap (`log_ticks`)."""
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label(column))
    if log:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        which = ax.xaxis if axis == "x" else ax.yaxis
        low, high = which.get_data_interval()
        ticks = log_ticks(low, high) if np.isfinite([low, high]).all() and 0 < low < high else []
        if ticks:
            which.set_major_locator(ticker.FixedLocator(ticks))
            which.set_major_formatter(ticker.FuncFormatter(lambda v, _: format_tick(v)))
            which.set_minor_formatter(ticker.NullFormatter())


def log_ticks(low: float, high: float, *, max_ticks: int = 6) -> list[float]:
    """Major ticks for a log axis over [low, high]: the decades, or 1-2-5 (or 1...9) steps
    when they would leave fewer than three; at most `max_ticks`, so labels never collide.

    matplotlib's own log formatter labels minor ticks on an axis spanning about a decade
    (2×10⁻⁴, 3×10⁻⁴, ... side by side), which is what a sampled learning rate spans.
    """
    first, last = int(np.floor(np.log10(low))), int(np.ceil(np.log10(high)))
    for steps in ((1,), (1, 3), (1, 2, 5), tuple(range(1, 10))):
        ticks = [
            m * 10.0**e
            for e in range(first, last + 1)
            for m in steps
            if low <= m * 10.0**e * (1 + 1e-9) and m * 10.0**e <= high * (1 + 1e-9)
        ]
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:
        return []  # a range this narrow is not drawn on a log axis; keep matplotlib's ticks
    if len(ticks) > max_ticks:
        ticks = ticks[:: int(np.ceil(len(ticks) / max_ticks))]
    return ticks


def format_tick(value: float) -> str:
    """A tick label on a log axis: 0.0002, 5e-05, 128, 20000."""
    if value >= 1 and float(value).is_integer() and value < 1e6:
        return str(int(value))
    return format_level(float(value))


def level_order(values: pd.Series) -> list:
    """Distinct values in a readable order: numbers ascending, then text alphabetically."""
    unique = pd.unique(values.dropna())
    numbers = sorted(v for v in unique if isinstance(v, int | float | np.number))
    texts = sorted(str(v) for v in unique if not isinstance(v, int | float | np.number))
    return [*numbers, *texts]


def format_level(value) -> str:
    """A short tick label: 0.2, 128, 4.6e-04 (not 0.000459)."""
    if isinstance(value, float | np.floating):
        text = f"{value:.3g}"
        return f"{value:.1e}" if len(text) > 6 else text
    return str(value)
