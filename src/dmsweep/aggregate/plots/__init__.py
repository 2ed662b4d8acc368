"""Plots generated from whatever was swept: one module per family, compute then draw.

Each family module has `compute(ctx) -> list[record]` (small frozen dataclasses; tests
check these) and `draw(record, ctx) -> Figure | None`. `render_all` runs every family and
saves PNG and SVG files; a family that has nothing to show for the axes actually swept
(no training-set sizes, no swept parameters) returns no record and draws nothing.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path

from dmsweep.aggregate.plots import (
    effects,
    importance,
    interactions,
    learning_curves,
    models,
    predictions,
    ranking,
    resources,
    training_curves,
)
from dmsweep.aggregate.plots._common import PlotContext, PlotFile, save_figure

FAMILIES = (
    models,
    effects,
    interactions,
    importance,
    learning_curves,
    ranking,
    predictions,
    training_curves,
    resources,
)
FORMATS = ("png", "svg")


def render_all(
    ctx: PlotContext, out_dir: Path, *, formats: Sequence[str] = FORMATS
) -> tuple[list[PlotFile], list[str]]:
    """Compute, draw and save every family; returns (saved plots, warnings).

    A family that raises is reported as a warning with the error, and the others still
    run: the summary tables are already written by then, and one plot must not cost them.
    """
    saved, warnings = [], []
    for family in FAMILIES:
        name = family.FAMILY
        try:
            records = family.compute(ctx)
            for record in records:
                warnings += [f"{name}: {p}" for p in getattr(record, "problems", ())]
                fig = family.draw(record, ctx)
                if fig is None:
                    continue
                files = save_figure(fig, Path(out_dir) / record.name, formats)
                saved.append(PlotFile(name, record.name, record.title, record.caption, files))
        except Exception as err:
            where = traceback.extract_tb(err.__traceback__)[-1]
            warnings.append(
                f"{name} plots skipped: {type(err).__name__}: {err} "
                f"({Path(where.filename).name}:{where.lineno})"
            )
    return saved, warnings


__all__ = ["FAMILIES", "FORMATS", "PlotContext", "PlotFile", "render_all"]
