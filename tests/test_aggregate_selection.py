"""Model selection: best configuration per model type by the mean tune metric over replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dmsweep.aggregate.design import label, levels, lower_is_better, split_parts
from dmsweep.aggregate.selection import best_per_model, configurations


def frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["status"] = "ok"
    df["folder"] = "/r/" + df["job_id"]
    return df


def test_best_configuration_by_mean_over_seeds_not_by_one_lucky_seed() -> None:
    # config lr=1e-3 has the single best tune_mse (a lucky seed) but the worse mean
    rows = [
        {"job_id": "fc-a1", "model": "fc", "learning_rate": 1e-3, "seed": 1, "tune_mse": 0.05},
        {"job_id": "fc-a2", "model": "fc", "learning_rate": 1e-3, "seed": 2, "tune_mse": 0.30},
        {"job_id": "fc-b1", "model": "fc", "learning_rate": 1e-4, "seed": 1, "tune_mse": 0.10},
        {"job_id": "fc-b2", "model": "fc", "learning_rate": 1e-4, "seed": 2, "tune_mse": 0.12},
        {
            "job_id": "linear-c",
            "model": "linear",
            "learning_rate": 1e-4,
            "seed": 1,
            "tune_mse": 0.4,
        },
    ]
    for row in rows:
        row["test_pearson"] = 1 - row["tune_mse"]
    best = best_per_model(frame(rows), ["model", "learning_rate", "seed"]).set_index("model")
    assert best.at["fc", "job_id"] == "fc-b1"
    assert best.at["fc", "n_replicates"] == 2
    assert best.at["fc", "tune_mse_mean"] == pytest.approx(0.11)
    assert best.at["fc", "test_pearson"] == pytest.approx(0.9)
    assert best.at["fc", "test_pearson_mean"] == pytest.approx(0.89)
    assert best.at["fc", "folder"] == "/r/fc-b1"
    assert best.at["linear", "job_id"] == "linear-c"
    assert list(best.reset_index().columns[:4]) == ["model", "job_id", "folder", "n_replicates"]


def test_a_higher_is_better_metric_is_maximised_and_diverged_rows_do_not_count() -> None:
    rows = [
        {"job_id": "cnn-a", "model": "cnn", "filters": 32, "tune_pearson": 0.8},
        {"job_id": "cnn-b", "model": "cnn", "filters": 64, "tune_pearson": 0.9},
        {"job_id": "cnn-c", "model": "cnn", "filters": 128, "tune_pearson": np.nan},
        {"job_id": "cnn-d", "model": "cnn", "filters": 256, "tune_pearson": 0.99},
    ]
    df = frame(rows)
    df.loc[3, "status"] = "diverged"
    best = best_per_model(df, ["model", "filters"], metric="tune_pearson")
    assert best["job_id"].tolist() == ["cnn-b"]
    table = configurations(df, ["model", "filters"], metric="tune_pearson")
    assert table["job_id"].tolist() == ["cnn-b", "cnn-a"]


def test_published_split_replicates_are_replicates_not_configurations() -> None:
    rows = [
        {
            "job_id": f"gcn-{i}",
            "model": "gcn",
            "split": f"main_replicates/standard_rep_{i}",
            "filters": 64,
            "tune_mse": 0.1 + 0.01 * i,
        }
        for i in range(3)
    ]
    table = configurations(frame(rows), ["model", "split", "filters"])
    assert len(table) == 1
    assert table.at[0, "n_replicates"] == 3
    assert table.at[0, "split_family"] == "main_replicates/standard"


def test_names_and_directions() -> None:
    assert split_parts("reduced/reduced_0.1/reduced_0.1_rep_2") == (
        "reduced/reduced_0.1/reduced_0.1",
        2.0,
    )
    assert np.isnan(split_parts("main")[1])
    assert lower_is_better("tune_mse") and not lower_is_better("test_pearson")
    assert label("test_pearson") == "test Pearson r"
    assert label("learning_rate") == "learning rate"
    assert label("tune_top100_overlap") == "tune top-100 overlap"


def test_continuous_axes_are_binned_on_a_log_scale() -> None:
    values = pd.Series(np.logspace(-5, -2, 200))
    binned = levels(values)
    assert binned.nunique() == 6
    assert binned.min() > 1e-5 and binned.max() < 1e-2
    assert levels(pd.Series([1, 2, 3, 2])).tolist() == [1, 2, 3, 2]
