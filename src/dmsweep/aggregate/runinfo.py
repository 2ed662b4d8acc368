"""What a run folder adds to its results: the job list (jobs.csv) and the HTCondor event log.

With a run folder, aggregation knows every training that should exist (so it can say what
never ran) and what HTCondor saw of each job (held, evicted, exit code, memory). One
HTCondor job runs a *batch* of trainings in sequence: every training of a batch shares that
batch's record, so `condor_wall_time_s` and `condor_memory_mb` describe the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dmsweep.core.jobscsv import read_jobs_csv
from dmsweep.core.runfiles import RunPaths
from dmsweep.errors import DmsweepError

CONDOR_FIELDS = (
    ("cluster", "condor_cluster"),
    ("proc", "condor_proc"),
    ("state", "condor_state"),
    ("exit_code", "condor_exit_code"),
    ("wall_time_s", "condor_wall_time_s"),
    ("memory_mb", "condor_memory_mb"),
    ("evictions", "condor_evictions"),
    ("hold_reason", "condor_hold_reason"),
    ("host", "condor_host"),
)
"""CondorRecord attribute -> summary column."""
CONDOR_COLUMNS = ("batch_id", *(column for _, column in CONDOR_FIELDS))


@dataclass(frozen=True)
class RunInfo:
    """jobs.csv and the event log of one run folder (both may be partly missing)."""

    root: Path
    jobs: pd.DataFrame
    """Index: job_id; columns: batch_id and every parameter, as written (strings)."""
    condor: Mapping[str, Any] = field(default_factory=dict)
    """batch_id -> CondorRecord (dmsweep.core.events)."""
    has_event_log: bool = False
    warnings: tuple[str, ...] = ()

    def batch_of(self, job_id: str) -> str | None:
        if job_id in self.jobs.index and "batch_id" in self.jobs.columns:
            batch = self.jobs.at[job_id, "batch_id"]
            return batch or None
        return None

    def condor_record(self, job_id: str) -> Any | None:
        batch = self.batch_of(job_id)
        return self.condor.get(batch) if batch else None

    def condor_columns(self, job_ids: pd.Series) -> pd.DataFrame:
        """CONDOR_COLUMNS for each job id (NaN where nothing is known), same index."""
        if "batch_id" in self.jobs.columns:
            batches = job_ids.map(self.jobs["batch_id"])
        else:
            batches = pd.Series(None, index=job_ids.index, dtype=object)
        columns: dict[str, Any] = {"batch_id": batches}
        records = batches.map(lambda b: self.condor.get(b) if isinstance(b, str) else None)
        for attribute, column in CONDOR_FIELDS:
            columns[column] = records.map(
                lambda r, a=attribute: getattr(r, a, None) if r is not None else None
            )
        frame = pd.DataFrame(columns, index=job_ids.index)
        for _, column in CONDOR_FIELDS:
            if column not in ("condor_state", "condor_hold_reason", "condor_host"):
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame


def find_run_folder(path: Path) -> tuple[Path, Path | None]:
    """(results folder, run folder or None) for a run folder or any results folder."""
    path = Path(path)
    if RunPaths(path).is_run_folder():
        return RunPaths(path).results, path
    if path.name == RunPaths(path.parent).results.name and RunPaths(path.parent).is_run_folder():
        return path, path.parent
    return path, None


def read_run_info(run_dir: Path) -> RunInfo:
    """jobs.csv and the event log; what cannot be read becomes a warning, never an error."""
    paths = RunPaths(Path(run_dir))
    warnings: list[str] = []
    jobs = _read_jobs_csv(paths.jobs_csv, warnings)
    condor: Mapping[str, Any] = {}
    has_log = paths.events_log.is_file()
    if has_log:
        try:
            from dmsweep.core.events import read_condor_records
        except ImportError as err:
            warnings.append(f"{paths.events_log} not read: {err}")
        else:
            try:
                condor = read_condor_records(paths.root)
            except Exception as err:  # a damaged log must not stop the summary
                warnings.append(f"{paths.events_log} not read: {type(err).__name__}: {err}")
    return RunInfo(paths.root, jobs, condor, has_log, tuple(warnings))


def _read_jobs_csv(path: Path, warnings: list[str]) -> pd.DataFrame:
    try:
        table = read_jobs_csv(path)
    except DmsweepError as err:
        warnings.append(f"{err}; the job list is ignored")
        return pd.DataFrame(columns=["batch_id"], index=pd.Index([], name="job_id"))
    warnings.extend(table.problems)
    jobs = pd.DataFrame(list(table.rows), columns=list(table.header), dtype=object)
    return jobs.set_index("job_id")
