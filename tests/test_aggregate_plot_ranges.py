"""What the plots show stays readable and possible: log axes for log-sampled parameters with
labels that do not collide, intervals inside a metric's range, no interval from fewer than
three values, importance intervals that do not strike through their bars."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from dmsweep.aggregate.design import use_log_scale, value_range
from dmsweep.aggregate.plots import PlotContext, effects, importance, learning_curves
from dmsweep.aggregate.plots._common import log_ticks
from dmsweep.aggregate.selection import best_per_model

PARAMS = ["model", "learning_rate", "train_fraction", "seed"]


def context(rows: list[dict], metric: str = "test_pearson") -> PlotContext:
    """A PlotContext over hand-made valid fc trainings (each row: parameters + metric)."""
    summary = pd.DataFrame(rows)
    summary.insert(0, "job_id", [f"fc-{i:012d}" for i in range(len(summary))])
    summary["status"], summary["model"], summary["folder"] = "ok", "fc", "/nowhere"
    summary["tune_mse"] = summary.get("tune_mse", 0.2)
    summary["train_n"] = (summary["train_fraction"] * 40000).astype(int)
    best = best_per_model(summary, PARAMS)
    return PlotContext.build(summary, PARAMS, metric=metric, select_metric="tune_mse", best=best)


def trainings(rates, seeds, metric, values, *, fractions=(1.0,)) -> list[dict]:
    """One row per (rate, fraction, seed); `values` cycles over them."""
    combos = itertools.product(rates, fractions, seeds)
    return [
        {"learning_rate": r, "train_fraction": f, "seed": s, metric: v}
        for (r, f, s), v in zip(combos, itertools.cycle(values))
    ]


LOG_SAMPLES = [2.1e-4, 2.9e-4, 3.8e-4, 5.3e-4, 6.9e-4, 9.4e-4, 1.25e-3, 1.7e-3]
"""Eight log-uniform learning rates from one decade: a factor of 8 from first to last."""


@pytest.mark.parametrize(
    ("values", "log"),
    [
        (LOG_SAMPLES, True),  # log-spaced, less than a factor of 10
        ([32, 64, 128], True),  # powers of two
        ([1e-4, 1e-3], True),  # two values a decade apart
        ([1e-4, 3e-4, 1e-3, 3e-3], True),
        ([0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5], False),  # linear, x10
        ([0.1, 0.2, 0.3, 0.5], False),
        ([1, 2, 3], False),
        ([6, 8], False),
        ([0.0, 0.1, 0.2], False),  # zero: never log
        ([-1e-3, 1e-3, 1e-2], False),
    ],
)
def test_log_scale_is_inferred_from_the_spacing(values, log) -> None:
    assert use_log_scale(pd.Series(values, dtype=float)) is log


def test_log_ticks_are_few_and_inside_the_range() -> None:
    for low, high in [(2.1e-4, 1.7e-3), (1.7e-4, 6.5e-3), (1e-5, 1e-1), (300, 40000)]:
        ticks = log_ticks(low, high)
        assert 2 <= len(ticks) <= 6, (low, high, ticks)
        assert all(low * 0.999 <= t <= high * 1.001 for t in ticks)
    assert log_ticks(1.7e-4, 6.5e-3) == pytest.approx([3e-4, 1e-3, 3e-3])


def overlapping_labels(ax) -> list[tuple[str, str]]:
    canvas = FigureCanvasAgg(ax.figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    ticks = [*ax.get_xticklabels(), *ax.get_xticklabels(minor=True)]  # minor ones collide
    labels = [t for t in ticks if t.get_visible() and t.get_text()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
    return [
        (a, b)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.overlaps(box_b)
    ]


def test_a_log_sampled_learning_rate_gets_a_log_axis_with_separate_labels() -> None:
    ctx = context(trainings(LOG_SAMPLES, [1, 2], "test_pearson", [0.6, 0.62, 0.65, 0.61]))
    (figure,) = effects.compute(ctx)
    (rate,) = figure.effects
    assert rate.axis == "learning_rate" and rate.log
    fig = effects.draw(figure, ctx)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 2
    assert overlapping_labels(ax) == []


def test_fewer_than_three_values_give_points_not_intervals() -> None:
    ctx = context(trainings([1e-4, 1e-3, 1e-2], [1, 2], "test_pearson", [0.95, 0.999, 0.2, 0.9]))
    (figure,) = effects.compute(ctx)
    for level in figure.effects[0].levels:
        assert level.n == 2
        assert np.isnan([level.low, level.high, level.band_low, level.band_high]).all()
        assert np.isfinite(level.mean)
    assert len(figure.effects[0].values) == 6  # every training is still a point
    fig = effects.draw(figure, ctx)
    (ax,) = fig.axes
    assert all(len(c.get_segments()) == 0 for c in ax.collections if hasattr(c, "get_segments"))


def test_intervals_and_bands_stay_inside_the_metric_range() -> None:
    # three seeds close to Pearson 1 (the raw interval and band reach past 1)
    rows = trainings([1e-4, 1e-3], [1, 2, 3], "test_pearson", [0.999, 0.93, 0.998])
    (figure,) = effects.compute(context(rows))
    for level in figure.effects[0].levels:
        assert level.n == 3
        assert level.mean + 4.3 * level.replicate_sd / np.sqrt(3) > 1  # unclipped: beyond 1
        assert -1 <= level.low <= level.mean <= level.high == 1.0
        assert level.band_high == 1.0 and level.band_low == pytest.approx(
            level.mean - level.replicate_sd
        )
    # an MSE near 0 never gets an interval below 0
    rows = trainings([1e-4, 1e-3], [1, 2, 3], "test_mse", [0.001, 0.2, 0.003])
    (figure,) = effects.compute(context(rows, metric="test_mse"))
    for level in figure.effects[0].levels:
        assert level.low == 0.0 == level.band_low
        assert level.high > level.mean


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("test_pearson", (-1, 1)),
        ("tune_spearman", (-1, 1)),
        ("test_r2", (-np.inf, 1)),
        ("train_mse", (0, np.inf)),
        ("test_ndcg100", (0, 1)),
        ("tune_top20_overlap", (0, 1)),
        ("runtime_s", (0, np.inf)),
        ("peak_memory_mb", (0, np.inf)),
        ("train_n", (0, np.inf)),
        ("learning_rate", (-np.inf, np.inf)),
    ],
)
def test_value_ranges(column, expected) -> None:
    assert value_range(column) == expected


def test_learning_curves_band_only_from_three_replicates_and_within_range() -> None:
    two = trainings([1e-3], [1, 2], "test_pearson", [0.99, 0.8], fractions=(0.25, 1.0))
    (record,) = learning_curves.compute(context(two))
    (curve,) = record.curves
    assert (curve.n == 2).all() and np.isnan(curve.low).all() and np.isnan(curve.high).all()
    assert [sorted(v) for v in curve.replicates] == [[0.8, 0.99], [0.8, 0.99]]
    three = trainings([1e-3], [1, 2, 3], "test_pearson", [0.999, 0.9, 0.998], fractions=(0.25, 1.0))
    (record,) = learning_curves.compute(context(three))
    (curve,) = record.curves
    assert (curve.n == 3).all() and (curve.high == 1.0).all() and (curve.low < curve.mean).all()


def test_importance_intervals_sit_beside_their_bars() -> None:
    rng = np.random.default_rng(1)
    rates = [1e-4, 3e-4, 1e-3, 3e-3]
    rows = trainings(rates, [1, 2], "test_pearson", list(rng.uniform(0.2, 0.8, 8)))
    ctx = context(rows)
    (record,) = importance.compute(ctx)
    (panel,) = record.panels
    assert ((panel.low >= 0) & (panel.low <= panel.high) & (panel.high <= 1)).all()
    fig = importance.draw(record, ctx)
    (ax,) = fig.axes
    bars = [(p.get_y(), p.get_y() + p.get_height()) for p in ax.patches]
    whiskers = [seg for c in ax.collections for seg in c.get_segments() if seg[0][1] == seg[1][1]]
    assert len(bars) == 2 and len(whiskers) == 2  # learning rate and the noise share
    for (_, y), _end in whiskers:
        assert not any(low <= y <= high for low, high in bars)
    assert all("[" in t.get_text() for t in ax.get_yticklabels())  # the interval, in numbers
