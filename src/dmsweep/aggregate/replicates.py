"""replicates.csv: how much each test metric moves over a configuration's replicates.

A configuration is a model type with one set of design-axis values (`design.candidate_axes`:
every parameter but the replicate ones: job seed, split seed, replicate number of a
published split). Its replicates are the valid trainings that differ only there, e.g. one
model on the six published `main_replicates/standard_rep_*` splits. Per configuration the
table gives n and, for every test metric, mean and sample standard deviation (ddof 1; empty
for n = 1), so the spread a paper reports as "0.826 +- 0.004 over 6 replicates" is one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dmsweep.aggregate.design import (
    candidate_axes,
    configuration_key,
    replicate_columns,
    swept_by_model,
    with_split_columns,
)

TEST_PREFIX = "test_"


@dataclass(frozen=True)
class ReplicateTable:
    """replicates.csv as a frame, with the names of its parts for plots and the report."""

    table: pd.DataFrame
    """One row per configuration: model, n, the swept design axes, the replicate parameters
    that vary within it (`replicates`), then `<metric>_mean` and `<metric>_sd` per metric."""
    metrics: tuple[str, ...]
    axes: tuple[str, ...]


def replicate_table(summary: pd.DataFrame, param_keys: Iterable[str]) -> ReplicateTable:
    """Mean, SD and n of every test metric per configuration of the valid results.

    Configurations are ordered by model type, then by the swept axes' values; the columns of
    axes are those swept for some model type (constants stay in summary.csv).
    """
    param_keys = list(param_keys)
    df = with_split_columns(summary[summary["status"].eq("ok")]) if len(summary) else summary
    metrics = tuple(
        c
        for c in summary.columns
        if c.startswith(TEST_PREFIX) and c not in param_keys and _numeric(summary[c])
    )
    if df.empty:
        columns = ["model", "n", "replicates", *_stat_columns(metrics)]
        return ReplicateTable(pd.DataFrame(columns=columns), metrics, ())
    candidates = candidate_axes(df, param_keys)
    swept = swept_by_model(df, param_keys)
    axes = tuple(a for a in candidates if any(a in s for s in swept.values()))
    df = df.assign(_config=configuration_key(df, ["model", *candidates]))
    rows = []
    for _, group in df.groupby("_config", sort=False):
        row = {"model": group["model"].iloc[0], "n": len(group)}
        row |= {axis: group[axis].iloc[0] for axis in axes}
        varied = [c for c in replicate_columns(group) if group[c].nunique(dropna=True) > 1]
        row["replicates"] = ",".join(varied)
        for metric in metrics:
            values = pd.to_numeric(group[metric], errors="coerce").to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{metric}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        rows.append(row)
    table = pd.DataFrame(rows, columns=["model", "n", *axes, "replicates", *_stat_columns(metrics)])
    try:
        table = table.sort_values(["model", *axes], kind="stable", na_position="last")
    except TypeError:  # an axis holding numbers and text: keep the order found, by model
        table = table.sort_values("model", kind="stable")
    return ReplicateTable(table.reset_index(drop=True), metrics, axes)


def _stat_columns(metrics: Iterable[str]) -> list[str]:
    return [f"{m}_{stat}" for m in metrics for stat in ("mean", "sd")]


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
