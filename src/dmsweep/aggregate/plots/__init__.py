"""Plots generated from whatever was swept: one module per family, compute then draw.

Each family module has `compute(ctx) -> list[record]` (small frozen dataclasses; tests
check these) and `draw(record, ctx) -> Figure | None`. `render_all` runs every family and
saves PNG and SVG files; a family that has nothing to show for the axes actually swept
(no training-set sizes, no swept parameters) returns no record and draws nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dmsweep.aggregate.plots import (
    confusion,
    effects,
    importance,
    interactions,
    learning_curves,
    models,
    predictions,
    ranking,
    replicates,
    resources,
    training_curves,
)
from dmsweep.aggregate.plots._common import PlotContext, PlotFile, save_figure

FAMILIES = (
    models,
    replicates,
    effects,
    interactions,
    importance,
    learning_curves,
    ranking,
    predictions,
    confusion,
    training_curves,
    resources,
)
FORMATS = ("png", "svg")


def render_all(
    ctx: PlotContext,
    out_dir: Path,
    *,
    formats: Sequence[str] = FORMATS,
    workers: int | None = None,
) -> tuple[list[PlotFile], list[str]]:
    """Compute, draw and save every family; returns (saved plots, warnings).

    Records are computed here; drawing and saving (most of the time) run in forked worker
    processes when there are several figures and CPUs (`workers`: None = the CPUs this
    process may use, at most 8). A family that raises is reported as a warning with the
    error, and the others still run: the summary tables are already written by then.
    """
    pending, warnings = [], []
    for family in FAMILIES:
        try:
            for record in family.compute(ctx):
                warnings += [f"{family.FAMILY}: {p}" for p in getattr(record, "problems", ())]
                pending.append((family, record))
        except Exception as err:
            warnings.append(_skipped(family.FAMILY, err))
    _JOBS[:] = [(family, record, ctx, Path(out_dir), tuple(formats)) for family, record in pending]
    try:
        n = _workers(len(_JOBS)) if workers is None else min(workers, len(_JOBS))
        if n > 1 and sys.platform == "linux":
            context = multiprocessing.get_context("fork")  # workers inherit _JOBS
            with ProcessPoolExecutor(n, mp_context=context) as pool:
                drawn = list(pool.map(_draw, range(len(_JOBS))))
        else:
            drawn = [_draw(i) for i in range(len(_JOBS))]
    finally:
        _JOBS.clear()
    saved = [result for result in drawn if isinstance(result, PlotFile)]
    warnings += [result for result in drawn if isinstance(result, str)]
    return saved, warnings


_JOBS: list[tuple] = []
"""What render_all hands to its (forked) workers: (family, record, ctx, folder, formats)."""


def _draw(index: int) -> PlotFile | str | None:
    family, record, ctx, out_dir, formats = _JOBS[index]
    try:
        fig = family.draw(record, ctx)
        if fig is None:
            return None
        files = save_figure(fig, out_dir / record.name, formats)
    except Exception as err:
        return _skipped(family.FAMILY, err)
    return PlotFile(family.FAMILY, record.name, record.title, record.caption, files)


def _skipped(family: str, err: Exception) -> str:
    where = traceback.extract_tb(err.__traceback__)[-1]
    return (
        f"{family} plots skipped: {type(err).__name__}: {err} "
        f"({Path(where.filename).name}:{where.lineno})"
    )


def _workers(n_figures: int) -> int:
    if n_figures < 3:
        return 1
    return min(len(os.sched_getaffinity(0)), 8, n_figures)


__all__ = ["FAMILIES", "FORMATS", "PlotContext", "PlotFile", "render_all"]
