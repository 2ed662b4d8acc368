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
    valid_rows,
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
    metrics = tuple(
        c
        for c in summary.columns
        if c.startswith(TEST_PREFIX) and c not in param_keys and _numeric(summary[c])
    )
    df = valid_rows(summary, [*param_keys, *metrics]) if len(summary) else summary
    if df.empty:
        columns = ["model", "n", "replicates", *_stat_columns(metrics)]
        return ReplicateTable(pd.DataFrame(columns=columns), metrics, ())
    candidates = candidate_axes(df, param_keys)
    swept = swept_by_model(df, param_keys)
    axes = tuple(a for a in candidates if any(a in s for s in swept.values()))
    codes = configuration_key(df, ["model", *candidates]).to_numpy()
    columns = _per_configuration(df, codes, axes, metrics)
    table = pd.DataFrame(
        columns, columns=["model", "n", *axes, "replicates", *_stat_columns(metrics)]
    )
    try:
        table = table.sort_values(["model", *axes], kind="stable", na_position="last")
    except TypeError:  # an axis holding numbers and text: keep the order found, by model
        table = table.sort_values("model", kind="stable")
    return ReplicateTable(table.reset_index(drop=True), metrics, axes)


def _per_configuration(
    df: pd.DataFrame, codes: np.ndarray, axes: Iterable[str], metrics: Iterable[str]
) -> dict[str, list]:
    """The table's columns, one value per configuration (`codes`: 0, 1, ... in order of first
    appearance), computed over all rows at once: a loop over the groups took 25 s for the
    17,000 configurations of 20,000 synthetic results. Mean and SD are numpy's formulas (sum
    in row order / n; sqrt of the squared deviations' sum / (n - 1)) over the finite values."""
    n_configs = int(codes.max()) + 1
    first = df.iloc[np.unique(codes, return_index=True)[1]]
    columns: dict[str, list] = {
        "model": first["model"].tolist(),
        "n": np.bincount(codes, minlength=n_configs).tolist(),
    }
    columns |= {axis: first[axis].tolist() for axis in axes}
    by_config = pd.Series(codes, index=df.index)
    varied = {
        c: (df[c].groupby(by_config).nunique(dropna=True) > 1).to_numpy()
        for c in replicate_columns(df)
    }
    columns["replicates"] = [
        ",".join(c for c, flags in varied.items() if flags[i]) for i in range(n_configs)
    ]
    for metric in metrics:
        values = pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(values)
        where, values = codes[finite], values[finite]
        count = np.bincount(where, minlength=n_configs)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(where, weights=values, minlength=n_configs) / count
            squares = np.bincount(where, weights=(values - mean[where]) ** 2, minlength=n_configs)
            sd = np.sqrt(squares / (count - 1))
        columns[f"{metric}_mean"] = np.where(count > 0, mean, np.nan).tolist()
        columns[f"{metric}_sd"] = np.where(count > 1, sd, np.nan).tolist()
    return columns


def _stat_columns(metrics: Iterable[str]) -> list[str]:
    return [f"{m}_{stat}" for m in metrics for stat in ("mean", "sd")]


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
