"""Warnings about the input that do not stop aggregation: signs of a folder mixing sweeps.

Each is one line a researcher can act on. The results are still aggregated: every row is
kept, and the warning says which column to split them by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import pandas as pd

from dmsweep.aggregate.collect import Collection
from dmsweep.aggregate.runinfo import RunInfo
from dmsweep.config import MODEL_PARAMS, MODEL_TYPES, DataConfig, OptimConfig, flat_keys
from dmsweep.core.results import REGRESSION, TRAINED


def input_warnings(collection: Collection, run: RunInfo | None) -> list[str]:
    records = collection.records
    warnings: list[str] = []
    if collection.skipped:
        names = ", ".join(collection.skipped[:3]) + (" ..." if len(collection.skipped) > 3 else "")
        warnings.append(
            f"{len(collection.skipped)} hidden folder(s) in {collection.results} are not job "
            f"folders and were skipped: {names}"
        )
    wanted = {"dataset", "dmsweep_version", "model", *collection.param_keys}
    read = records.loc[records["status"].ne("running"), [c for c in records if c in wanted]]
    warnings += _several_values(read, "dataset", "results mix datasets")
    warnings += _mixed_tasks(records)
    warnings += _several_values(
        read, "dmsweep_version", "results come from several dmsweep versions"
    )
    warnings += _unexpected_keys(read, collection.param_keys)
    if run is not None and len(run.jobs):
        outside = sorted(set(records["job_id"]) - set(run.jobs.index))
        if outside:
            warnings.append(
                f"{len(outside)} job folder(s) are not in {run.root / 'jobs.csv'} "
                f"(another sweep's results?), e.g. {outside[0]}; they are aggregated too"
            )
    notes = records["notes"].fillna("")
    if notes.ne("").any():
        warnings.append(
            f"{int(notes.ne('').sum())} job folder(s) have notes (see the notes column), "
            f"e.g. {records.index[notes.ne('')][0]}: {notes[notes.ne('')].iloc[0]}"
        )
    return warnings


def _mixed_tasks(records: pd.DataFrame) -> list[str]:
    """Regression and classification results in one folder: best.csv ranks every model type
    by one tune metric, which the other task's trainings lack, so they drop out of it."""
    if "task" not in records.columns:  # collect records a task for classifications only
        return []
    tasks = records.loc[records["status"].isin(TRAINED), "task"].fillna(REGRESSION)
    regression = tasks.eq(REGRESSION)
    if regression.all() or not regression.any():
        return []
    listed = ", ".join(f"{value} ({n})" for value, n in tasks.value_counts().items())
    return [
        f"results mix regression and classification: task = {listed}; best.csv ranks every "
        "model type by one tune metric (--select-metric), which the other task's trainings "
        "lack, so they are left out of it: aggregate each task's folders apart"
    ]


def _several_values(records: pd.DataFrame, column: str, what: str) -> list[str]:
    if column not in records.columns:
        return []
    counts = records[column].value_counts()
    if len(counts) < 2:
        return []
    listed = ", ".join(f"{value} ({n})" for value, n in counts.items())
    return [f"{what}: {column} = {listed}; compare within one {column}"]


def _unexpected_keys(records: pd.DataFrame, param_keys: Sequence[str]) -> list[str]:
    """Parameters that this version's TrainConfig does not know for a model type, or lacks
    although every config of that type has them: config.json files of another dmsweep
    version or another sweep tool, mixed into one results folder."""
    if "model" not in records.columns:
        return []
    warnings = []
    for model, rows in records.groupby("model", sort=True):
        if model not in MODEL_TYPES:
            warnings.append(f"{len(rows)} job(s) have an unknown model type {model!r}")
            continue
        valid = set(flat_keys(model))
        used = [k for k in param_keys if k in rows.columns and rows[k].notna().any()]
        unknown = [k for k in used if k not in valid]
        if unknown:
            warnings.append(
                f"{model} jobs have parameters this dmsweep does not know for {model}: "
                f"{', '.join(unknown)} (written by another version or another sweep tool?)"
            )
        required = [k for k in always_present(model) if k in rows.columns]
        lacking = {k: int(rows[k].isna().sum()) for k in required if rows[k].isna().any()}
        lacking.update({k: len(rows) for k in always_present(model) if k not in rows.columns})
        if lacking:
            listed = ", ".join(f"{k} ({n} jobs)" for k, n in lacking.items())
            warnings.append(
                f"{model} jobs lack parameters every {model} config has: {listed} "
                "(written by another dmsweep version?)"
            )
    return warnings


def always_present(model: str) -> tuple[str, ...]:
    """Flat keys that every resolved config of `model` has (a default that is not None)."""
    sections = (MODEL_PARAMS[model], DataConfig, OptimConfig)
    keys = [f.name for cls in sections for f in fields(cls) if f.default is not None]
    return ("model", "seed", *keys)
