"""`aggregate()`: results (or a run folder) -> summary.csv/.parquet, failures.csv, best.csv,
replicates.csv, plots/ and report.html in one output folder.

Order matters for robustness: the tables are written first, so a problem in a plot can
never cost the summary; plots and the report follow. Every phase is timed (the benchmark
and the CLI's last lines show them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dmsweep.aggregate import checks, collect, failures, replicates, selection, table
from dmsweep.aggregate.design import swept_by_model, with_split_columns
from dmsweep.aggregate.runinfo import find_run_folder, read_run_info
from dmsweep.errors import DmsweepError, JobFolderError
from dmsweep.jobfiles import CONFIG, METRICS

SUMMARY_CSV = "summary.csv"
SUMMARY_PARQUET = "summary.parquet"
FAILURES_CSV = "failures.csv"
BEST_CSV = "best.csv"
REPLICATES_CSV = "replicates.csv"
REPORT = "report.html"
PLOTS = "plots"
DEFAULT_METRIC = "test_pearson"
CLASSIFICATION_METRIC = "test_accuracy"
"""What the plots show by default for classification results (metrics.json `task`)."""


@dataclass(frozen=True)
class AggregateResult:
    out: Path
    results: Path
    run: Path | None
    completeness: str
    counts: dict[str, int]
    warnings: tuple[str, ...]
    n_rows: int
    n_read: int
    n_cached: int
    files: tuple[Path, ...]
    seconds: dict[str, float] = field(default_factory=dict)


def default_output(path: Path) -> Path:
    """<run>/summary for a run folder or its results/; <parent>/<name>-summary otherwise."""
    results, run = find_run_folder(Path(path))
    if run is not None:
        return run / "summary"
    if results.name == "results":
        return results.parent / "summary"
    return results.parent / f"{results.name}-summary"


def aggregate(
    path: Path,
    out: Path | None = None,
    *,
    metric: str | None = None,
    select_metric: str | None = None,
    plots: bool = True,
    report: bool = True,
    use_cache: bool = True,
    progress: bool | None = None,
    workers: int | None = None,
) -> AggregateResult:
    """Aggregate a results folder or a run folder; raises JobFolderError when there is
    nothing to aggregate (no such folder, a single job folder, an empty folder).

    `workers`: processes for reading folders and drawing plots (None: the CPUs this
    process may use, at most 8, where the work is large enough; 1: no worker processes).
    `metric` and `select_metric` default by task: test Pearson and tune MSE for regression
    results, test accuracy and tune log loss for classification results.
    """
    clock = _Clock()
    path = Path(path)
    _check_input(path)
    results, run_dir = find_run_folder(path)
    out = Path(out) if out is not None else default_output(path)
    cache_path = out / collect.CACHE_FILE
    cache = collect.Cache.load(cache_path, results) if use_cache else None
    collection = collect.collect(
        results, cache=cache, exclude=[out], progress=progress, workers=workers
    )
    run = read_run_info(run_dir) if run_dir is not None else None
    if collection.records.empty and (run is None or run.jobs.empty):
        raise JobFolderError(
            f"{results}: no job folders to aggregate (expected {results}/<job_id>/ with "
            f"{CONFIG} and {METRICS}; see docs/job-contract.md)"
        )
    clock.lap("read")

    records, copies = collect.mark_copies(collection.records)
    keys = collection.param_keys
    warnings = list(run.warnings) if run else []
    if cache is not None and cache.note:
        warnings.append(cache.note)
    for old in collect.OLD_CACHE_FILES:  # never read (a pickle can run code): removed
        (out / old).unlink(missing_ok=True)
    warnings += checks.input_warnings(collection, run) + copies
    states = failures.job_states(records, run)
    summary = table.summary_table(records, keys, results, run)
    failure_rows = failures.failure_table(states, records, keys, run)
    classification = _is_classification(summary)
    if metric is None:
        metric = CLASSIFICATION_METRIC if classification else DEFAULT_METRIC
    if select_metric is None:
        select_metric = (
            selection.CLASSIFICATION_SELECT_METRIC
            if classification
            else selection.DEFAULT_SELECT_METRIC
        )
    _check_metrics(summary, keys, metric=metric, select_metric=select_metric)
    out.mkdir(parents=True, exist_ok=True)  # only once the input is known to be good
    configs = selection.configurations(summary, keys, metric=select_metric)
    best = selection.best_per_model(summary, keys, metric=select_metric, configs=configs)
    spread = replicates.replicate_table(summary, keys)

    row_keys = table.row_keys(summary, collection.signatures, with_condor=run is not None)
    csv_lines = table.write_csv(
        summary, out / SUMMARY_CSV, row_keys=row_keys, cache=cache.csv_lines if cache else None
    )
    problem = table.write_parquet(summary, out / SUMMARY_PARQUET)
    if problem:
        warnings.append(problem)
    table.write_csv(failure_rows, out / FAILURES_CSV)
    table.write_csv(best, out / BEST_CSV)
    table.write_csv(spread.table, out / REPLICATES_CSV)
    if use_cache and _changed(cache, collection, csv_lines):
        collect.Cache.of(collection, csv_lines).save(cache_path)
    names = (SUMMARY_CSV, SUMMARY_PARQUET, FAILURES_CSV, BEST_CSV, REPLICATES_CSV)
    files = [out / n for n in names]
    files = [f for f in files if f.exists()]
    clock.lap("tables")

    saved = []
    if plots:
        if not summary.empty:
            from dmsweep.aggregate.plots import PlotContext, render_all

            ctx = PlotContext.build(
                summary, keys, metric=metric, select_metric=select_metric, best=best
            )
            saved, plot_warnings = render_all(ctx, out / PLOTS, workers=workers)
            warnings += plot_warnings
        _remove_stale_plots(out / PLOTS, {f for p in saved for f in p.files})
        files += [f for p in saved for f in p.files]
        clock.lap("plots")
    if report:
        from dmsweep.aggregate.report import write_report

        files.append(
            write_report(
                out / REPORT,
                results=results,
                run=run_dir,
                completeness=states.completeness(),
                warnings=warnings,
                outcomes=_outcomes(states),
                best=_readable_best(best, summary, keys),
                configurations=configs,
                replicates=spread.table,
                resources=table.resource_table(summary),
                failures=failure_rows,
                plots=saved,
                metric=metric,
                select_metric=select_metric,
                files=[f.name for f in files if f.parent == out],
            )
        )
        clock.lap("report")
    return AggregateResult(
        out=out,
        results=results,
        run=run_dir,
        completeness=states.completeness(),
        counts=states.counts,
        warnings=tuple(warnings),
        n_rows=len(summary),
        n_read=collection.n_read,
        n_cached=collection.n_cached,
        files=tuple(files),
        seconds=clock.laps,
    )


def _is_classification(summary: Any) -> bool:
    """Results of a classification task: they have a tune log loss and no tune MSE."""
    columns = set(summary.columns)
    return "tune_log_loss" in columns and "tune_mse" not in columns


def _check_input(path: Path) -> None:
    if not path.exists():
        raise JobFolderError(f"{path}: no such folder (expected a results folder or a run folder)")
    if not path.is_dir():
        raise JobFolderError(f"{path}: not a folder (expected a results folder or a run folder)")
    if (path / CONFIG).is_file():
        raise JobFolderError(
            f"{path}: this is one job folder; aggregate the results folder that holds it: "
            f"{path.parent}"
        )


def _check_metrics(summary: pd.DataFrame, param_keys: Sequence[str], **chosen: str) -> None:
    """A metric that the results do not hold is a typo: say which ones they do hold."""
    if summary.empty:
        return
    have = [
        c
        for c in summary.columns
        if c.startswith(tuple(f"{s}_" for s in collect.SPLITS)) and c not in param_keys
    ]
    for option, name in chosen.items():
        if name not in have or summary[name].dtype.kind not in "fiu":
            raise DmsweepError(
                f"--{option.replace('_', '-')} {name}: not a metric of these results; "
                f"choose one of {', '.join(have)}"
            )


def _changed(cache: collect.Cache | None, collection: collect.Collection, lines: dict) -> bool:
    """Whether the cache must be written again: not after a run that found nothing new.
    Folders read again by rule (corrupt ones, whose files may still be arriving) keep their
    signature while nothing changed, so they do not force a write."""
    return (
        cache is None
        or collection.signatures != cache.signatures
        or collection.param_keys != cache.param_keys
        or lines != cache.csv_lines
    )


def _outcomes(states: failures.JobStates) -> pd.DataFrame:
    counts = pd.crosstab(states.table["model"], states.table["outcome"])
    order = [c for c in (collect.OK, *failures.REASONS) if c in counts.columns]
    counts = counts[order]
    counts["total"] = counts.sum(axis=1)
    counts.columns.name = None
    return counts.reset_index().rename(columns={"model": "model type"})


def _readable_best(best: pd.DataFrame, summary: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """best.csv for the report: the parameters that were swept, not every constant one."""
    valid = with_split_columns(summary[summary["status"].eq(collect.OK)])
    swept = {axis for axes in swept_by_model(valid, keys).values() for axis in axes}
    constant = [k for k in keys if k in best.columns and k not in swept and k != "model"]
    return best.drop(columns=constant + [c for c in best.columns if c.endswith("_sd")])


def _remove_stale_plots(folder: Path, keep: set[Path]) -> None:
    """Plots of an earlier run that no longer apply (an axis no longer swept) are removed."""
    for path in folder.glob("*"):
        if path.suffix in (".png", ".svg") and path not in keep:
            path.unlink()


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now
        self.laps["total"] = now - self.start
