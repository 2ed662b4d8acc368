"""replicates.csv and the replicate-spread plot: mean, SD and n of every test metric per
configuration, over trainings that differ only in seed, split seed or split replicate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmsweep.aggregate import plots
from dmsweep.aggregate.pipeline import REPLICATES_CSV, aggregate
from dmsweep.aggregate.plots import PlotContext
from dmsweep.aggregate.plots import replicates as replicate_plots
from dmsweep.aggregate.replicates import replicate_table
from dmsweep.aggregate.synthetic import make_results

KEYS = ["model", "split", "learning_rate", "seed"]


def known_frame() -> pd.DataFrame:
    """linear on six published replicate splits (test Pearson 0.80..0.85: mean 0.825, SD
    sqrt(0.00175 / 5)), fc at two learning rates x two seeds, one diverged fc row."""
    rows = [
        {
            "job_id": f"linear-{i}",
            "model": "linear",
            "split": f"main_replicates/standard_rep_{i}",
            "learning_rate": 1e-4,
            "seed": 7,
            "test_pearson": 0.80 + 0.01 * i,
            "test_mse": 0.2,
        }
        for i in range(6)
    ]
    for lr, values in ((1e-4, (0.90, 0.96)), (1e-3, (0.70, 0.70))):
        for seed, value in zip((1, 2), values, strict=True):
            rows.append(
                {
                    "job_id": f"fc-{lr}-{seed}",
                    "model": "fc",
                    "split": "main",
                    "learning_rate": lr,
                    "seed": seed,
                    "test_pearson": value,
                    "test_mse": 1 - value,
                }
            )
    rows.append({**rows[-1], "job_id": "fc-bad", "seed": 3, "test_pearson": 0.0})
    df = pd.DataFrame(rows)
    df["status"] = "ok"
    df.loc[df["job_id"].eq("fc-bad"), "status"] = "diverged"
    return df


def test_mean_sd_and_n_per_configuration_with_known_values() -> None:
    result = replicate_table(known_frame(), KEYS)
    table = result.table
    assert result.metrics == ("test_pearson", "test_mse")
    assert list(table.columns[:2]) == ["model", "n"]
    assert len(table) == 3  # linear over six splits; fc at each learning rate
    linear = table[table["model"].eq("linear")].iloc[0]
    assert linear["n"] == 6 and linear["replicates"] == "split_replicate"
    assert linear["test_pearson_mean"] == pytest.approx(0.825)
    assert linear["test_pearson_sd"] == pytest.approx(np.sqrt(0.00175 / 5))
    assert linear["test_mse_sd"] == pytest.approx(0.0)
    fc = table[table["model"].eq("fc")].set_index("learning_rate")
    assert fc.at[1e-4, "n"] == 2 and fc.at[1e-3, "n"] == 2  # the diverged row does not count
    assert fc.at[1e-4, "test_pearson_mean"] == pytest.approx(0.93)
    assert fc.at[1e-4, "test_pearson_sd"] == pytest.approx(0.06 / np.sqrt(2))
    assert fc.at[1e-3, "test_pearson_sd"] == pytest.approx(0.0)
    assert fc.at[1e-4, "replicates"] == "seed"
    assert "learning_rate" in result.axes and "seed" not in table.columns


def test_one_replicate_has_no_sd_and_nothing_valid_gives_an_empty_table() -> None:
    df = known_frame()
    single = replicate_table(df[df["job_id"].eq("fc-0.001-1")], KEYS).table
    assert single["n"].tolist() == [1] and np.isnan(single.at[0, "test_pearson_sd"])
    empty = replicate_table(df[df["status"].eq("diverged")], KEYS).table
    assert empty.empty and {"model", "n", "test_pearson_mean", "test_pearson_sd"} <= set(
        empty.columns
    )


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory) -> tuple[Path, object]:
    results = tmp_path_factory.mktemp("replicates") / "results"
    make_results(results, seeds=(1, 2, 3), faults={"diverged": 1})
    with pytest.MonkeyPatch.context() as patch:  # this family alone: seconds, not half a minute
        patch.setattr(plots, "FAMILIES", (replicate_plots,))
        return results, aggregate(results, workers=1)


def test_replicates_csv_of_a_synthetic_results_tree(aggregated) -> None:
    """Every configuration of the synthetic grid has three seeds (one diverged): the table
    holds exactly the means and SDs of the metrics.json files, read here independently."""
    results, result = aggregated
    expected: dict[tuple, list[dict]] = {}
    for folder in sorted(results.iterdir()):
        config = json.loads((folder / "config.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())["splits"]["test"]
        if metrics["pearson"] is None:
            continue
        key = tuple(sorted((k, str(v)) for k, v in config.items() if k not in ("seed", "job_id")))
        expected.setdefault(key, []).append(metrics)
    table = pd.read_csv(result.out / REPLICATES_CSV)
    assert len(table) == len(expected) == 26
    assert sorted(table["n"].tolist()) == sorted(len(v) for v in expected.values())
    assert sorted(table["n"].unique()) == [2, 3]
    for metric in ("pearson", "spearman", "mse", "ndcg100"):
        want = sorted(
            (
                round(float(np.mean([m[metric] for m in v])), 9),
                round(float(np.std([m[metric] for m in v], ddof=1)), 9),
            )
            for v in expected.values()
        )
        got = sorted(
            zip(
                table[f"test_{metric}_mean"].round(9),
                table[f"test_{metric}_sd"].round(9),
                strict=True,
            )
        )
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=0, atol=1e-9)
    assert set(table["replicates"]) == {"seed"}
    report = (result.out / "report.html").read_text()
    assert 'href="replicates.csv"' in report and '<h2 id="replicates">' in report
    assert (result.out / "plots" / "replicate_spread.png").stat().st_size > 1000
    assert 'id="replicate_spread"' in report


def test_the_spread_plot_shows_configurations_with_several_replicates() -> None:
    df = known_frame()
    ctx = PlotContext.build(
        df, KEYS, metric="test_pearson", select_metric="test_mse", best=df.iloc[:0]
    )
    (record,) = replicate_plots.compute(ctx)
    assert record.counts == (6, 2, 2)
    assert record.models == ("linear", "fc", "fc")
    assert record.means == pytest.approx((0.825, 0.93, 0.70))
    assert record.sds[0] == pytest.approx(np.sqrt(0.00175 / 5))
    assert record.labels[2] == "fc\nlearning_rate=0.001"
    one_each = df.drop_duplicates("model")
    ctx = PlotContext.build(
        one_each, KEYS, metric="test_pearson", select_metric="test_mse", best=df.iloc[:0]
    )
    assert replicate_plots.compute(ctx) == []
