"""summary.csv / summary.parquet: one tidy row per trained model, columns in a fixed order.

Order: job_id, status, model, the other parameters (sorted), metrics per split
(`train_*`, `tune_*`, `test_*`: mse, pearson, spearman, r2, n, top20_overlap,
top100_overlap, ndcg100), epochs_run, best_epoch, early_stopped, n_parameters, runtime_s,
time_<phase>_s, seconds_per_epoch, peak_memory_mb, host, dmsweep_version, git_commit, the
HTCondor columns (run folder only), detail, notes, folder (absolute path of the job folder).

Rendering 20,000 rows of CSV costs about 0.1 s with pyarrow and half a second in Python,
a large part of an incremental run; so each row's rendered CSV line is kept in the cache
with a key of its folder's signature (and HTCondor values), and a rerun renders only new rows.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dmsweep.aggregate.collect import PROVENANCE_KEYS, SPLITS, TRAINED, row_key
from dmsweep.aggregate.design import label
from dmsweep.aggregate.runinfo import CONDOR_COLUMNS, RunInfo
from dmsweep.config import MODEL_PARAMS, DataConfig, OptimConfig
from dmsweep.core.files import replacing, write_atomic

METRIC_ORDER = (
    "mse",
    "pearson",
    "spearman",
    "r2",
    "n",
    "top20_overlap",
    "top100_overlap",
    "ndcg100",
)
TRAINING_COLUMNS = (
    "epochs_run",
    "best_epoch",
    "early_stopped",
    "n_parameters",
    "runtime_s",
)
RESOURCE_COLUMNS = ("seconds_per_epoch", "peak_memory_mb")
RESOURCES = ("runtime_s", "peak_memory_mb", "condor_memory_mb")
"""What a sweep spec's resource requests are sized by (resource plots and table)."""
TAIL_COLUMNS = ("detail", "notes", "folder")

INTEGER_METRICS = (
    *(f"{split}_n" for split in SPLITS),
    "epochs_run",
    "best_epoch",
    "n_parameters",
    "condor_cluster",
    "condor_proc",
    "condor_exit_code",
    "condor_evictions",
)

LineCache = dict[str, Any]
"""{"columns": tuple of column names, "lines": {row key: rendered CSV line}}."""


def summary_table(
    records: pd.DataFrame,
    param_keys: Sequence[str],
    results: Path,
    run: RunInfo | None = None,
) -> pd.DataFrame:
    """The rows of trained models (status ok or diverged), columns in the documented order."""
    trained = records[records["status"].isin(TRAINED)]
    summary = trained.drop(columns=["folder"]).reindex(
        columns=list(dict.fromkeys([*trained.columns.drop("folder"), "model"]))
    )
    base = os.path.join(os.fspath(Path(results).resolve()), "")  # ends with the separator
    summary["folder"] = [base + name for name in trained.index.tolist()]  # os.path.join, fast
    if run is not None:
        summary = pd.concat([summary, run.condor_columns(summary["job_id"])], axis=1)
    summary = summary[column_order(summary.columns, param_keys)]
    return integers_as_integers(summary.reset_index(drop=True))


def integer_columns() -> frozenset[str]:
    """Columns that hold whole numbers: int fields of the config dataclasses, counts."""
    names = {"seed", *INTEGER_METRICS}
    for cls in (*MODEL_PARAMS.values(), DataConfig, OptimConfig):
        names.update(f.name for f in fields(cls) if str(f.type).split(" ")[0] == "int")
    return frozenset(names)


def integers_as_integers(table: pd.DataFrame) -> pd.DataFrame:
    """Whole-number columns become nullable integers (Int64), so summary.csv says 128, not
    128.0 (pandas made float a column with a missing value among ints), and a column's type
    in summary.parquet does not depend on whether some other folder (a running one, a model
    without that parameter) left a gap in it; text columns keep their values but whole
    floats in them are written as integers."""
    for column in integer_columns().intersection(table.columns):
        values = table[column]
        if values.dtype.kind in "iu":
            table[column] = values.astype("Int64")
        elif values.dtype.kind == "f":
            finite = values.dropna()
            if np.isfinite(finite).all() and (finite == finite.round()).all():
                table[column] = values.astype("Int64")
        elif values.dtype == object:
            table[column] = values.map(_whole)
    return table


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def column_order(columns: Iterable[str], param_keys: Sequence[str]) -> list[str]:
    columns = list(columns)
    present = set(columns)
    params = sorted(k for k in param_keys if k in present and k not in ("model", "job_id"))
    head = ["job_id", "status", "model", *params]
    metrics = []
    for split in SPLITS:
        rank = {f"{split}_{m}": i for i, m in enumerate(METRIC_ORDER)}
        names = [c for c in columns if c.startswith(f"{split}_") and c not in head]
        metrics += sorted(names, key=lambda c, r=rank: (r.get(c, len(r)), c))
    timings = sorted(c for c in columns if c.startswith("time_") and c.endswith("_s"))
    middle = [*TRAINING_COLUMNS, *timings, *RESOURCE_COLUMNS, *PROVENANCE_KEYS, *CONDOR_COLUMNS]
    ordered = head + metrics + [c for c in middle if c in present]
    tail = [c for c in TAIL_COLUMNS if c in present]
    rest = [c for c in columns if c not in set(ordered) | set(tail)]
    return [c for c in ordered if c in present] + rest + tail


def write_csv(
    table: pd.DataFrame,
    path: Path,
    *,
    row_keys: Sequence[str] | None = None,
    cache: LineCache | None = None,
) -> LineCache:
    """Write `table` as CSV: empty for missing values, quotes where CSV needs them.

    With `row_keys` (one stable key per row that changes whenever the row changes), lines
    rendered by an earlier call (`cache`, as returned) are reused for unchanged rows. Lines
    come from pyarrow's CSV writer (C++, 5x faster than Python) or, where it cannot render a
    table, from `_render_python`; the cache records which, so one file never mixes them.
    """
    columns = tuple(map(str, table.columns))
    lines: dict[str, str] = {}
    if row_keys is None:
        row_keys = [str(i) for i in range(len(table))]
    elif cache and tuple(cache.get("columns", ())) == columns:
        lines = dict(cache.get("lines", {}))
    renderer = cache.get("renderer") if cache and lines else None
    missing = [i for i, key in enumerate(row_keys) if key not in lines]
    if missing:
        subset = table.iloc[missing] if len(missing) < len(table) else table
        rendered = _render_arrow(subset) if renderer in (None, "arrow") else None
        if rendered is not None:
            renderer = "arrow"
        elif renderer == "arrow":  # arrow cannot render these rows: all lines in Python
            lines, missing, subset = {}, list(range(len(table))), table
        if rendered is None:
            renderer, rendered = "python", _render_python(subset)
        for i, line in zip(missing, rendered, strict=True):
            lines[row_keys[i]] = line
    header = ",".join(_quote(c) for c in columns)
    body = "\n".join([lines[key] for key in row_keys])  # one join: no string per line
    write_atomic(path, header + "\n" + body + ("\n" if row_keys else ""))
    return {
        "columns": columns,
        "renderer": renderer,
        "lines": {key: lines[key] for key in row_keys},
    }


def _render_arrow(table: pd.DataFrame) -> list[str] | None:
    """One CSV line per row from pyarrow, or None (no usable pyarrow, a value it cannot
    convert, or a line break inside a value, which would break one line per row)."""
    try:
        import pyarrow as pa
        from pyarrow import csv
    except ImportError:
        return None
    buffer = io.BytesIO()
    try:
        arrow = pa.Table.from_pandas(_uniform_types(table), preserve_index=False)
        csv.write_csv(arrow, buffer, csv.WriteOptions(include_header=False))
    except (ValueError, TypeError, pa.ArrowException):
        return None
    lines = buffer.getvalue().decode("utf-8").split("\n")[:-1]
    return lines if len(lines) == len(table) else None


def write_parquet(table: pd.DataFrame, path: Path) -> str | None:
    """Write a Parquet copy; returns a warning instead of raising when that is impossible."""
    try:
        table = _uniform_types(table)
        with replacing(path) as tmp:
            table.to_parquet(tmp, index=False)
    except ImportError as err:
        path.unlink(missing_ok=True)
        reason = str(err).splitlines()[0]
        return f"{path.name} not written: Parquet support is unusable here ({reason})"
    except (ValueError, TypeError, OSError) as err:
        path.unlink(missing_ok=True)
        return f"{path.name} not written: {type(err).__name__}: {err}"
    return None


def row_keys(
    summary: pd.DataFrame, signatures: Mapping[str, tuple[str, int]], *, with_condor: bool
) -> list[str]:
    """A key per summary row that changes when its folder or its HTCondor values change."""
    names = [folder.rpartition(os.sep)[2] for folder in summary["folder"].tolist()]
    condor = [c for c in CONDOR_COLUMNS if c in summary.columns] if with_condor else []
    columns = [summary[c].tolist() for c in condor]
    rows = zip(*columns, strict=True) if condor else [()] * len(names)
    unknown = ("?", 0)
    return [
        row_key(name, signatures.get(name, unknown)[0], values)
        for name, values in zip(names, rows, strict=True)
    ]


def available_resources(data: pd.DataFrame) -> tuple[str, ...]:
    return tuple(r for r in RESOURCES if r in data.columns and data[r].notna().any())


def resource_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per model type: n and the median, 95th percentile and maximum of each resource."""
    resources = available_resources(summary)
    if summary.empty:
        return pd.DataFrame()
    rows = []
    for model, group in summary.groupby("model", sort=True):
        row: dict[str, object] = {"model": model, "n": len(group)}
        for resource in resources:
            values = group[resource].astype(float)
            values = values[np.isfinite(values)]
            for name, stat in (("median", 0.5), ("p95", 0.95), ("max", 1.0)):
                key = f"{label(resource)} {name}"
                row[key] = float(values.quantile(stat)) if len(values) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _render_python(table: pd.DataFrame) -> list[str]:
    cells = [_cells(table[column]) for column in table.columns]
    return [",".join(row) for row in zip(*cells, strict=True)] if cells else []


def _cells(series: pd.Series) -> list[str]:
    """One column as CSV cells. Numbers go through repr of the whole list, which runs in C
    and is several times faster than a repr per value."""
    dtype = series.dtype
    if len(series) == 0:
        return []
    if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
        texts = repr(series.tolist())[1:-1].split(", ")
        return ["" if t == "nan" else t for t in texts] if dtype.kind == "f" else texts
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return [str(v) for v in series.tolist()]
    if pd.api.types.is_integer_dtype(dtype):  # nullable integers (Int64)
        missing = series.isna().tolist()
        texts = repr(series.fillna(0).astype("int64").tolist())[1:-1].split(", ")
        return ["" if m else t for t, m in zip(texts, missing, strict=True)]
    if isinstance(dtype, pd.StringDtype):
        return _quoted(series.fillna("").tolist())
    return _quoted(
        [
            v if type(v) is str else "" if _missing(v) else repr(v) if type(v) is float else str(v)
            for v in series.tolist()
        ]
    )


def _quoted(texts: list[str]) -> list[str]:
    """Quote cells only where CSV needs it (one scan in C finds whether any does)."""
    joined = "\0".join(texts)
    if any(c in joined for c in ',"\n\r'):
        return [_quote(t) for t in texts]
    return texts


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _quote(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _uniform_types(table: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs one type per column: a column mixing types (a string among numbers in a
    hand-edited config.json) is written as text."""
    mixed = []
    for column in table.columns:
        if table[column].dtype == object:
            kinds = {type(v) for v in table[column].dropna()}
            if len(kinds) > 1 and not kinds <= {int, float}:
                mixed.append(column)
    if not mixed:
        return table
    table = table.copy()
    for column in mixed:
        table[column] = table[column].map(lambda v: v if v is None else str(v))
    return table
