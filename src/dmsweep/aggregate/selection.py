"""Model selection as published: the best configuration of each model type by a tune metric.

A configuration is one set of design-axis values (everything but the model type's
replicates: seed, split seed, split replicate). Its score is the mean of the selection
metric (default tune-set MSE) over its replicates; the best configuration of a model type
has the best score, and the job reported for it is its best replicate by the same metric
(its folder holds the model to use). Test metrics are reported for that job and as the
mean over the configuration's replicates, so that luck shows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from dmsweep.aggregate.design import (
    candidate_axes,
    configuration_key,
    lower_is_better,
    replicate_columns,
    valid_rows,
)

DEFAULT_SELECT_METRIC = "tune_mse"
CLASSIFICATION_SELECT_METRIC = "tune_log_loss"
REPORTED_METRICS = (
    "test_mse",
    "test_pearson",
    "test_spearman",
    "test_r2",
    "test_ndcg100",
    "test_accuracy",
    "test_balanced_accuracy",
    "test_macro_f1",
    "test_auroc",
    "test_log_loss",
)


def configurations(
    summary: pd.DataFrame, param_keys: Iterable[str], *, metric: str = DEFAULT_SELECT_METRIC
) -> pd.DataFrame:
    """One row per (model type, configuration) of valid results, best first within a type.

    Columns: model, config (an integer id), n_replicates, `<metric>_mean`, `<metric>_sd`,
    the reported test metrics' means, the best replicate's job_id and folder, the design
    parameters. Rows without a finite `metric` do not count.
    """
    param_keys = list(param_keys)
    if metric in summary.columns:
        needed = [*param_keys, "job_id", "folder", metric, *REPORTED_METRICS]
        df = valid_rows(summary, needed)
        df = df[np.isfinite(pd.to_numeric(df[metric], errors="coerce"))]
    else:
        df = summary.iloc[:0]
    if df.empty:
        return pd.DataFrame(columns=["model", "config", "n_replicates", "job_id", "folder"])
    axes = candidate_axes(df, param_keys)
    df = df.assign(config=configuration_key(df, ["model", *axes]))
    ascending = lower_is_better(metric)
    best_rows = df.sort_values(metric, ascending=ascending, kind="stable").drop_duplicates("config")
    grouped = df.groupby("config")
    table = pd.DataFrame(
        {
            "n_replicates": grouped.size(),
            f"{metric}_mean": grouped[metric].mean(),
            f"{metric}_sd": grouped[metric].std(ddof=1),
        }
    )
    for column in REPORTED_METRICS:
        if column in df.columns and column != metric:
            table[f"{column}_mean"] = grouped[column].mean()
    keep = ["config", "model", "job_id", "folder", metric, *axes]
    best = best_rows[[c for c in keep if c in best_rows.columns]].set_index("config")
    table = best.join(table).reset_index()
    table = table.sort_values(["model", f"{metric}_mean"], ascending=[True, ascending])
    ordered = ["model", "config", "n_replicates", f"{metric}_mean", f"{metric}_sd"]
    rest = [c for c in table.columns if c not in ordered]
    return table[ordered + rest].reset_index(drop=True)


def best_per_model(
    summary: pd.DataFrame,
    param_keys: Iterable[str],
    *,
    metric: str = DEFAULT_SELECT_METRIC,
    configs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """best.csv: per model type its best configuration, with the job to use and test metrics.

    Columns: model, job_id, folder, n_replicates, `<metric>_mean` (selection score) and
    `<metric>_sd`, `<metric>` and the reported test metrics of that job, `<test metric>_mean`
    over the configuration's replicates, then the design parameters and replicate values.
    `configs`: what `configurations` returned for the same arguments, if already computed.
    """
    if configs is None:
        configs = configurations(summary, param_keys, metric=metric)
    if configs.empty:
        return pd.DataFrame(columns=["model", "job_id", "folder", "n_replicates"])
    best = configs.drop_duplicates("model").set_index("job_id")
    job_values = summary.set_index("job_id")
    reported = [c for c in REPORTED_METRICS if c in summary.columns and c != metric]
    replicates = [c for c in replicate_columns(summary) if c in summary.columns]
    for column in [*reported, *replicates]:
        best[column] = job_values.loc[best.index, column]
    best = best.reset_index()
    head = ["model", "job_id", "folder", "n_replicates", f"{metric}_mean", f"{metric}_sd"]
    head += [metric, *reported]
    means = [f"{c}_mean" for c in reported if f"{c}_mean" in best.columns]
    rest = [c for c in best.columns if c not in {*head, *means, "config"}]
    return best[head + means + rest].reset_index(drop=True)
