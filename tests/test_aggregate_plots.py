"""Plot families: the computed records (not pixels), and that drawing saves PNG and SVG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmsweep import jobfiles
from dmsweep.aggregate import plots
from dmsweep.aggregate.collect import collect
from dmsweep.aggregate.plots import (
    PlotContext,
    effects,
    importance,
    interactions,
    learning_curves,
    models,
    predictions,
    ranking,
    render_all,
    resources,
    training_curves,
)
from dmsweep.aggregate.selection import best_per_model
from dmsweep.aggregate.synthetic import make_results
from dmsweep.aggregate.table import summary_table
from dmsweep.core.results import write_manifest


def context(results: Path, **options) -> PlotContext:
    collection = collect(results)
    summary = summary_table(collection.records, collection.param_keys, results)
    best = best_per_model(summary, collection.param_keys)
    return PlotContext.build(
        summary,
        collection.param_keys,
        metric=options.get("metric", "test_pearson"),
        select_metric="tune_mse",
        best=best,
    )


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> PlotContext:
    results = tmp_path_factory.mktemp("plots") / "results"
    make_results(results, train_fractions=(0.25, 1.0), faults={"diverged": 2})
    return context(results)


def test_only_swept_parameters_are_axes(ctx: PlotContext) -> None:
    assert ctx.models == ("linear", "fc", "cnn", "gcn")
    assert ctx.axes["linear"] == ("learning_rate", "train_fraction")
    assert set(ctx.axes["fc"]) == {"learning_rate", "units", "dropout", "train_fraction"}
    assert set(ctx.axes["gcn"]) == {"learning_rate", "filters", "threshold", "train_fraction"}
    assert "diverged" not in set(ctx.data["status"])


def test_effects_are_group_means_with_replicate_spread(ctx: PlotContext) -> None:
    figures = {f.model: f for f in effects.compute(ctx)}
    assert set(figures) == set(ctx.models)
    fc = {e.axis: e for e in figures["fc"].effects}
    rows = ctx.rows("fc")
    expected = rows.groupby("units")["test_pearson"].agg(["mean", "count"])
    got = {level.value: level for level in fc["units"].levels}
    for value, row in expected.iterrows():
        assert got[value].mean == pytest.approx(row["mean"])
        assert got[value].n == row["count"]
        assert got[value].low <= got[value].mean <= got[value].high
        assert got[value].replicate_sd > 0  # three seeds per configuration
    assert fc["learning_rate"].log  # 1e-4 .. 1e-3
    assert len(fc["units"].values) == len(rows)


def test_interaction_cells_are_pair_means(ctx: PlotContext) -> None:
    cnn = next(f for f in interactions.compute(ctx) if f.model == "cnn")
    heat = next(h for h in cnn.heatmaps if {h.rows, h.columns} == {"filters", "kernel_size"})
    rows = ctx.rows("cnn")
    means = rows.groupby([heat.rows, heat.columns])["test_pearson"].mean()
    for i, a in enumerate(heat.row_levels):
        for j, b in enumerate(heat.column_levels):
            assert heat.mean[i, j] == pytest.approx(means[(a, b)])
    assert heat.count.sum() == len(rows)


def test_learning_curves_rise_with_training_set_size(ctx: PlotContext) -> None:
    (record,) = learning_curves.compute(ctx)
    assert {c.model for c in record.curves} == set(ctx.models)
    for curve in record.curves:
        assert len(curve.sizes) == 2 and curve.sizes[0] < curve.sizes[1]
        assert curve.mean[1] > curve.mean[0]  # the synthetic penalty for 25 % is 0.048
        assert (curve.low <= curve.mean).all() and (curve.mean <= curve.high).all()
        assert (curve.n == 3).all()  # the chosen configuration's three seeds


def test_no_learning_curve_without_sizes(tmp_path: Path) -> None:
    make_results(tmp_path / "results")
    assert learning_curves.compute(context(tmp_path / "results")) == []


def test_variance_shares_on_known_data() -> None:
    y = np.array([0.0, 0.0, 1.0, 1.0])
    codes = np.array([[0, 0, 1, 1], [0, 1, 0, 1]])
    shares = importance.variance_shares(y, codes, np.ones((1, 4)))
    assert shares[0] == pytest.approx([1.0, 0.0])
    # weights count rows: duplicating the first two rows keeps the first grouping perfect
    shares = importance.variance_shares(y, codes, np.array([[2.0, 2.0, 1.0, 1.0]]))
    assert shares[0, 0] == pytest.approx(1.0)


def test_importance_finds_the_parameter_that_matters(ctx: PlotContext) -> None:
    (record,) = importance.compute(ctx)
    gcn = next(p for p in record.panels if p.model == "gcn")
    share = dict(zip(gcn.parameters, gcn.share, strict=True))
    # synthetic truth: train_fraction and learning rate move the metric, threshold does not
    assert share["train_fraction"] > share["threshold"]
    assert share["learning_rate"] > share["threshold"]
    assert (gcn.low <= gcn.high).all()
    assert 0 <= gcn.noise[0] <= 1 and gcn.resampled == "replicates"


def test_model_comparison_and_ranking_mark_the_selected_job(ctx: PlotContext) -> None:
    (record,) = models.compute(ctx)
    best = ctx.best.set_index("model")
    for model, values, selected in zip(record.models, record.values, record.selected, strict=True):
        assert len(values) == len(ctx.rows(model))
        job = best.at[model, "job_id"]
        assert selected == ctx.data.set_index("job_id").at[job, "test_pearson"]
    (rank,) = ranking.compute(ctx)
    assert rank.metrics == ("test_top20_overlap", "test_top100_overlap", "test_ndcg100")


def test_predictions_and_histories_of_the_selected_jobs_are_read(ctx: PlotContext) -> None:
    (record,) = predictions.compute(ctx)
    assert record.problems == ()
    assert [p.model for p in record.panels] == list(ctx.best["model"])
    panel = record.panels[0]
    assert len(panel.true) == 40  # synthetic n_predictions
    assert panel.pearson == pytest.approx(np.corrcoef(panel.true, panel.predicted)[0, 1])
    (curves,) = training_curves.compute(ctx)
    by_job = ctx.data.set_index("job_id")
    for curve in curves.curves:
        assert len(curve.epoch) == by_job.at[curve.job_id, "epochs_run"]
        assert curve.best_epoch == by_job.at[curve.job_id, "best_epoch"]


def test_unreadable_predictions_are_reported_not_raised(tmp_path: Path) -> None:
    make_results(tmp_path / "results")
    ctx = context(tmp_path / "results")
    victim = Path(ctx.best["folder"].iloc[0])
    (victim / "predictions.csv").write_text("variant\nA1D\n")
    (record,) = predictions.compute(ctx)
    assert len(record.panels) == len(ctx.best) - 1
    assert victim.name in record.problems[0]


def test_resources_against_swept_axes(ctx: PlotContext) -> None:
    figures = {f.model: f for f in resources.compute(ctx)}
    cnn = figures["cnn"]
    assert cnn.resources == ("runtime_s", "peak_memory_mb")
    assert len(cnn.effects) == len(cnn.resources) * len(cnn.axes)
    runtime = next(e for e in cnn.effects if e.y == "runtime_s" and e.axis == "train_fraction")
    small, full = runtime.levels
    assert small.mean < full.mean  # synthetic runtime scales with the fraction


def test_nothing_swept_means_no_parameter_plots(tmp_path: Path) -> None:
    from dmsweep.aggregate.synthetic import synthetic_configs, write_job_folder

    rng = np.random.default_rng(0)
    for seed in (1, 2, 3):
        flat = next(c for c in synthetic_configs(seeds=(seed,)) if c["model"] == "linear")
        write_job_folder(tmp_path / "results", flat, rng=rng)
    ctx = context(tmp_path / "results")
    assert ctx.axes == {"linear": ()}
    for family in (effects, interactions, importance, resources, learning_curves):
        assert family.compute(ctx) == []
    assert len(models.compute(ctx)) == 1


def test_render_all_saves_png_and_svg(ctx: PlotContext, tmp_path: Path) -> None:
    saved, warnings = render_all(ctx, tmp_path / "plots")
    assert warnings == []
    names = {p.name for p in saved}
    assert {"model_comparison", "effects_fc", "importance", "learning_curves"} <= names
    for plot in saved:
        assert [f.suffix for f in plot.files] == [".png", ".svg"]
        assert all(f.stat().st_size > 1000 for f in plot.files)
        assert plot.files[0].read_bytes()[:4] == b"\x89PNG"


def test_a_failing_family_is_a_warning(ctx: PlotContext, tmp_path: Path, monkeypatch) -> None:
    def broken(_ctx):
        raise ValueError("boom")

    monkeypatch.setattr(ranking, "compute", broken)
    monkeypatch.setattr(plots, "FAMILIES", (ranking, models))
    saved, warnings = render_all(ctx, tmp_path / "plots")
    assert any(w.startswith("ranking plots skipped: ValueError: boom") for w in warnings)
    assert any(p.name == "model_comparison" for p in saved)


def test_plot_context_handles_text_and_missing_values() -> None:
    summary = pd.DataFrame(
        {
            "job_id": ["gcn-1", "gcn-2", "gcn-3", "gcn-4"],
            "status": "ok",
            "model": "gcn",
            "graph": ["distance", "distance", "knn", "knn"],
            "threshold": [7.0, 7.0, np.nan, np.nan],
            "k": [np.nan, np.nan, 8, 8],
            "seed": [1, 2, 1, 2],
            "test_pearson": [0.8, 0.82, 0.85, 0.86],
            "tune_mse": [0.2, 0.19, 0.15, 0.14],
            "folder": "/nowhere",
        }
    )
    best = best_per_model(summary, ["model", "graph", "threshold", "k", "seed"])
    ctx = PlotContext.build(
        summary,
        ["model", "graph", "threshold", "k", "seed"],
        metric="test_pearson",
        select_metric="tune_mse",
        best=best,
    )
    assert ctx.axes["gcn"] == ("graph",)
    (figure,) = effects.compute(ctx)
    (graph,) = figure.effects
    assert [level.value for level in graph.levels] == ["distance", "knn"]
    assert not graph.numeric


def test_runtime_plots_split_by_device(tmp_path: Path) -> None:
    make_results(tmp_path / "results", train_fractions=(0.25, 1.0))
    gpu = {"kind": "gpu", "label": "NVIDIA A100-SXM4-40GB", "gpus": [{"name": "A100"}]}
    for folder in sorted((tmp_path / "results").iterdir())[::2]:
        provenance = json.loads((folder / jobfiles.PROVENANCE).read_text())
        provenance["device"] = gpu
        (folder / jobfiles.PROVENANCE).write_text(json.dumps(provenance))
        write_manifest(folder, folder.name, "gpu")
    ctx = context(tmp_path / "results")
    assert set(ctx.data["device"]) == {"cpu: AMD EPYC", "gpu: NVIDIA A100-SXM4-40GB"}
    names = {f.name for f in resources.compute(ctx) if f.model == "cnn"}
    assert names == {"resources_cnn_cpu-amd-epyc", "resources_cnn_gpu-nvidia-a100-sxm4-40gb"}
    split = [f for f in resources.compute(ctx) if f.model == "cnn"]
    first = [next(e for e in f.effects if e.y == "runtime_s") for f in split]
    whole = effects.effect(
        ctx.rows("cnn"), first[0].axis, "runtime_s", ctx.config_ids("cnn"), "cnn"
    )
    per_device = [sum(level.n for level in e.levels) for e in first]
    assert sum(per_device) == sum(level.n for level in whole.levels)
    assert min(per_device) > 0  # each device's figure holds its own trainings
