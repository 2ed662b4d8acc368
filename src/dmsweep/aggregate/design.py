"""What was swept: design axes, replicate axes, readable names. Shared by selection and plots.

A *replicate* is a repetition of one configuration that should not change the answer: the
job seed, the seed of a random split (`split_seed`), and the replicate of a published split
(`main_replicates/standard_rep_3` is replicate 3 of `main_replicates/standard`). Every other
parameter that takes more than one value for a model type is a *design axis* of that model
type: what the plots and the importance analysis are about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from dmsweep.core.results import MAX_MAGNITUDE, metric_range

REPLICATE_PARAMS = ("seed", "split_seed")
SPLIT_FAMILY = "split_family"
SPLIT_REPLICATE = "split_replicate"
NOT_DESIGN = frozenset({"model", "split", *REPLICATE_PARAMS})
MAX_LEVELS = 12
"""A numeric axis with more distinct values than this is continuous (binned where needed)."""

_SPLIT_REP = re.compile(r"^(?P<family>.*?)[_-]?rep[_-]?(?P<rep>\d+)$")

LABELS = {
    "model": "model type",
    "learning_rate": "learning rate",
    "batch_size": "batch size",
    "max_epochs": "max epochs",
    "min_delta": "early-stopping min delta",
    "patience": "early-stopping patience",
    "layers": "layers",
    "units": "units per layer",
    "dropout": "dropout rate",
    "filters": "filters",
    "kernel_size": "kernel size",
    "dense_units": "dense units",
    "graph": "residue graph",
    "threshold": "graph distance threshold (Å)",
    "k": "graph neighbours k",
    "pooling": "pooling",
    "encoding": "encoding",
    "dataset": "dataset",
    "split": "split",
    SPLIT_FAMILY: "split",
    "train_fraction": "training-set fraction",
    "tune_fraction": "tune-set fraction",
    "test_fraction": "test-set fraction",
    "max_variants": "max variants",
    "max_train_mutations": "max training mutations",
    "seed": "seed",
    "split_seed": "split seed",
    "train_n": "training-set size (variants)",
    "runtime_s": "runtime (s)",
    "seconds_per_epoch": "seconds per epoch",
    "peak_memory_mb": "peak memory (MB)",
    "n_parameters": "trainable parameters",
    "epochs_run": "epochs run",
    "best_epoch": "best epoch",
    "condor_memory_mb": "HTCondor memory used (MB)",
    "condor_wall_time_s": "HTCondor wall time (s)",
}
_METRIC_NAMES = {
    "mse": "MSE",
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "r2": "R²",
    "n": "n",
    "top20_overlap": "top-20 overlap",
    "top100_overlap": "top-100 overlap",
    "ndcg100": "NDCG@100",
}
_LOWER_IS_BETTER = ("mse", "rmse", "mae", "loss")


def label(column: str) -> str:
    """A readable axis label: 'test_pearson' -> 'test Pearson r'; 'batch_size' -> 'batch size'."""
    if column in LABELS:
        return LABELS[column]
    split, _, metric = column.partition("_")
    if split in ("train", "tune", "test") and metric in _METRIC_NAMES:
        return f"{split} {_METRIC_NAMES[metric]}"
    return column.replace("_", " ")


def lower_is_better(metric: str) -> bool:
    """MSE-like metrics are minimised; correlations, R², overlaps and NDCG are maximised."""
    return metric.rsplit("_", 1)[-1] in _LOWER_IS_BETTER


_ERROR_METRICS = ("rmse", "mae", "loss")
"""Error-like metrics beyond metrics.json's own (core.results.metric_range): never negative."""
_NON_NEGATIVE = re.compile(r"(_s|_mb|_n|^n_parameters|^epochs_run|^best_epoch)$")


def value_range(column: str) -> tuple[float, float]:
    """(low, high): the values `column` can take, so that intervals drawn around a mean of a
    bounded metric (a correlation, R², an MSE, a runtime) never leave what is possible."""
    split, _, metric = column.partition("_")
    name = metric if split in ("train", "tune", "test") else column
    if name in _ERROR_METRICS:
        return (0.0, np.inf)
    low, high = metric_range(name)
    if (low, high) != (-MAX_MAGNITUDE, MAX_MAGNITUDE):  # a metric with known bounds
        low = -np.inf if low == -MAX_MAGNITUDE else low  # "any size" is drawn as unbounded
        high = np.inf if high == MAX_MAGNITUDE else high
        return (low, high)
    if _NON_NEGATIVE.search(column):
        return (0.0, np.inf)
    return (-np.inf, np.inf)


def split_parts(split: str) -> tuple[str, float]:
    """('main_replicates/standard', 3.0) for 'main_replicates/standard_rep_3'; (split, NaN)."""
    match = _SPLIT_REP.match(split) if isinstance(split, str) else None
    if match is None:
        return split, np.nan
    return match["family"], float(match["rep"])


def with_split_columns(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with `split_family` and `split_replicate` (from `split`) when splits repeat."""
    if "split" not in df.columns or df.empty:
        return df
    unique = pd.unique(df["split"].dropna())
    parts = {s: split_parts(s) for s in unique}
    if not any(not np.isnan(rep) for _, rep in parts.values()):
        return df
    out = df.copy()
    out[SPLIT_FAMILY] = df["split"].map(lambda s: parts[s][0] if s in parts else s)
    out[SPLIT_REPLICATE] = df["split"].map(lambda s: parts[s][1] if s in parts else np.nan)
    return out


def valid_rows(summary: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The `ok` rows of summary.csv, only `columns` (those it has, in its order) and `split`,
    with `with_split_columns` applied. Filtering rows copies every column: with 20,000 rows and
    a hundred columns, copying only the few a table needs saves a tenth of a second each."""
    wanted = {*columns, "model", "split"}
    keep = [c for c in summary.columns if c in wanted]
    return with_split_columns(summary.loc[summary["status"].eq("ok"), keep])


def replicate_columns(df: pd.DataFrame) -> list[str]:
    """The replicate columns present in `df` (seed, split_seed, split_replicate)."""
    return [c for c in (*REPLICATE_PARAMS, SPLIT_REPLICATE) if c in df.columns]


def candidate_axes(df: pd.DataFrame, param_keys: Iterable[str]) -> list[str]:
    """Parameters that can be design axes: every parameter but model and the replicates."""
    axes = [k for k in param_keys if k not in NOT_DESIGN and k in df.columns]
    if SPLIT_FAMILY in df.columns:
        axes.append(SPLIT_FAMILY)
    elif "split" in df.columns:
        axes.append("split")
    return axes


def swept_axes(df: pd.DataFrame, axes: Iterable[str]) -> list[str]:
    """Axes that take more than one value in `df` (one model type's rows)."""
    return [a for a in axes if a in df.columns and df[a].nunique(dropna=True) > 1]


def swept_by_model(df: pd.DataFrame, param_keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Model type -> its swept design axes (`df`: valid rows, with_split_columns applied)."""
    candidates = candidate_axes(df, param_keys)
    return {
        model: tuple(swept_axes(rows, candidates))
        for model, rows in df.groupby("model", sort=False)
    }


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def use_log_scale(values: pd.Series) -> bool:
    """Log axes for positive values sampled or gridded on a log scale (learning rates).

    The run folder does not say which axes a spec sampled with `log: true`, but the values
    do: log-uniform samples and grids like 32, 64, 128 are evenly spaced in log10, linear
    ones (dropout 0.1 ... 0.5) in value. When the spacing tells neither (two values, a few
    random points) a factor of 10 decides; less than a factor of 3 is always linear.
    """
    if not is_numeric(values):
        return False
    finite = np.unique(values[np.isfinite(values)].to_numpy(dtype=float))
    if len(finite) < 2 or finite[0] <= 0:
        return False
    ratio = finite[-1] / finite[0]
    if ratio < 3:
        return False
    if len(finite) > 2:
        in_log, in_value = _unevenness(np.log10(finite)), _unevenness(finite)
        if in_log < 0.5 * in_value or in_value < 0.5 * in_log:
            return bool(in_log < in_value)
    return bool(ratio >= 10)


def _unevenness(sorted_values: np.ndarray) -> float:
    """Largest gap between the values' positions in their range and an even spacing."""
    span = sorted_values[-1] - sorted_values[0]
    position = (sorted_values - sorted_values[0]) / span
    return float(np.abs(position - np.linspace(0, 1, len(sorted_values))).max())


def is_continuous(values: pd.Series, *, max_levels: int = MAX_LEVELS) -> bool:
    """Numeric with more than `max_levels` distinct values, or more than 6 that each occur
    about once (values sampled from a range rather than a grid)."""
    if not is_numeric(values):
        return False
    distinct = values.nunique()
    return distinct > max_levels or (distinct > 6 and values.count() < 1.5 * distinct)


def levels(values: pd.Series, *, max_levels: int = MAX_LEVELS, bins: int = 6) -> pd.Series:
    """Group labels for an axis: its values, or quantile bins when numeric and continuous.

    Bins are on a log scale when `use_log_scale`; labels are the bins' geometric or
    arithmetic centres, so the result stays numeric and sortable. Missing values stay NaN.
    """
    if not is_continuous(values, max_levels=max_levels):
        return values
    log = use_log_scale(values)
    x = np.log10(values) if log else values.astype(float)
    codes = pd.qcut(x, q=min(bins, values.nunique() // 2), duplicates="drop")
    centres = codes.map(lambda interval: interval.mid).astype(float)
    return 10**centres if log else centres


def configuration_key(df: pd.DataFrame, axes: Iterable[str]) -> pd.Series:
    """One integer per distinct configuration (the values of `axes`; NaN counts as a value)."""
    axes = [a for a in axes if a in df.columns]
    if not axes:
        return pd.Series(0, index=df.index)
    return df.groupby(axes, dropna=False, sort=False).ngroup()


def t_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): a t-interval of the mean; low = high = mean for one value."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1)
    half /= np.sqrt(len(values))
    return mean, mean - half, mean + half
