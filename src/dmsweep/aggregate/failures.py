"""Every expected training without a valid result, with the reason, and how complete the sweep is.

Expected trainings are the job folders found (final and in-progress `.tmp-*` ones) plus,
for a run folder, every row of jobs.csv. A training's outcome comes from its folder when
it has a final one; otherwise from what HTCondor knows of its batch; otherwise it never
ran. Reasons, in the order the completeness line lists them:

| reason | meaning |
| --- | --- |
| failed | error.json (exception type and message), or its HTCondor job ended without its folder |
| diverged | metrics.json holds a NaN/null loss |
| corrupt | unparsable JSON, missing required keys, config.json missing, an empty folder |
| held | its HTCondor job is held (hold reason) |
| evicted | its HTCondor job was evicted and waits to run again |
| aborted | its HTCondor job was removed from the queue |
| running | a `.tmp-<job_id>-*` folder (training now), or its HTCondor job runs others first |
| idle | its HTCondor job waits in the queue |
| never ran | no folder and no HTCondor record |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dmsweep.aggregate.collect import (
    CORRUPT,
    DIVERGED,
    DUPLICATE,
    FAILED,
    OK,
    RUNNING,
    in_progress,
)
from dmsweep.aggregate.runinfo import RunInfo
from dmsweep.aggregate.table import integers_as_integers
from dmsweep.core.logs import stderr_tails
from dmsweep.core.runfiles import RunPaths

HELD, EVICTED, ABORTED, IDLE, NEVER_RAN = "held", "evicted", "aborted", "idle", "never ran"
REASONS = (FAILED, DIVERGED, CORRUPT, HELD, EVICTED, ABORTED, RUNNING, IDLE, NEVER_RAN)
FAILURE_COLUMNS = ("job_id", "reason", "detail", "model", "folder")
LOGGED = (FAILED, CORRUPT, HELD, EVICTED, ABORTED)
"""Reasons of a training whose job ran: failures.csv shows the tail of its stderr log."""


@dataclass(frozen=True)
class JobStates:
    """One row per expected training: job_id (index), outcome (OK or a reason), detail,
    model, folder (the folder name, '' when there is none)."""

    table: pd.DataFrame

    @property
    def counts(self) -> dict[str, int]:
        counts = self.table["outcome"].value_counts()
        return {key: int(counts.get(key, 0)) for key in (OK, *REASONS)}

    def completeness(self) -> str:
        """'812/1000 trainings done, 12 failed, 3 diverged, 148 never ran'."""
        counts, total = self.counts, len(self.table)
        parts = [f"{counts[OK]}/{total} trainings done"]
        parts += [f"{counts[reason]} {reason}" for reason in REASONS if counts[reason]]
        return ", ".join(parts)


def job_states(records: pd.DataFrame, run: RunInfo | None = None) -> JobStates:
    """Decide every expected training's outcome from its folder, its batch and jobs.csv."""
    final = records[~in_progress(records) & records["status"].ne(DUPLICATE).to_numpy()]
    running = records[records["status"].eq(RUNNING)]
    table = pd.DataFrame(
        {
            "outcome": final["status"].to_numpy(),
            "detail": final["detail"].to_numpy(),
            "folder": final.index.to_numpy(),
        },
        index=pd.Index(final["job_id"].to_numpy(), name="job_id"),
    )
    table = table[~table.index.duplicated()]
    extra: dict[str, dict[str, Any]] = {}
    have = set(table.index.tolist())
    for name, job in zip(running.index.tolist(), running["job_id"].tolist(), strict=True):
        if job not in have and job not in extra:
            extra[job] = {"outcome": RUNNING, "detail": f"in progress ({name})", "folder": name}
    if run is not None:
        for job in run.jobs.index.tolist():
            if job in have:
                continue
            tmp = extra.get(job, {}).get("folder", "")
            extra[job] = _from_condor(job, run, tmp)
    if extra:
        table = pd.concat([table, pd.DataFrame.from_dict(extra, orient="index")])
        table.index.name = "job_id"
    table["model"] = _models(table.index.tolist(), final, run)
    return JobStates(table)


def _from_condor(job: str, run: RunInfo, tmp: str) -> dict[str, Any]:
    """The outcome of a training without a final folder, from its batch's HTCondor record."""
    record = run.condor_record(job)
    batch = run.batch_of(job) or "?"
    left = f"; a partial folder {tmp} was left" if tmp else ""
    if record is None:
        if tmp:
            return {"outcome": RUNNING, "detail": f"in progress ({tmp})", "folder": tmp}
        if not run.has_event_log:
            why = "no job folder; no HTCondor event log to say more"
        else:
            why = f"no job folder; batch {batch} has no HTCondor record (never submitted?)"
        return {"outcome": NEVER_RAN, "detail": why, "folder": ""}
    where = f"HTCondor job {record.cluster}.{record.proc} (batch {batch})"
    state, evictions = record.state, record.evictions or 0
    if state == "running":
        detail = f"in progress ({tmp})" if tmp else f"waiting in {where}, running on {record.host}"
        return {"outcome": RUNNING, "detail": detail, "folder": tmp}
    if state == "held":
        outcome, detail = HELD, f"{where} is held: {record.hold_reason or 'no reason given'}"
    elif state == "evicted" or (state == "idle" and evictions):
        outcome, detail = EVICTED, f"{where} was evicted {evictions} time(s); waits to run again"
    elif state == "idle":
        outcome, detail = IDLE, f"{where} waits in the queue"
    elif state == "aborted":
        outcome, detail = ABORTED, f"{where} was removed from the queue"
    else:  # terminated without this training's folder
        outcome = FAILED
        detail = f"{where} ended with exit code {record.exit_code} but left no job folder"
    return {"outcome": outcome, "detail": detail + left, "folder": tmp}


def _models(job_ids: Iterable[str], final: pd.DataFrame, run: RunInfo | None) -> list[str]:
    models = final["model"].tolist() if "model" in final.columns else []
    known = dict(zip(final["job_id"].tolist(), models, strict=False))
    has_models = run is not None and "model" in run.jobs.columns
    listed = run.jobs["model"].to_dict() if has_models else {}
    models = []
    for job in job_ids:
        model = known.get(job)
        if not isinstance(model, str):
            model = listed.get(job) or job.rsplit("-", 1)[0]
        models.append(model)
    return models


def failure_table(
    states: JobStates,
    records: pd.DataFrame,
    param_keys: Iterable[str],
    run: RunInfo | None = None,
) -> pd.DataFrame:
    """failures.csv: one row per training without a valid result.

    Columns: job_id, reason, detail, model, folder, the HTCondor columns (run folder only),
    then every parameter (from config.json where it was written, else from jobs.csv).
    """
    failed = states.table[states.table["outcome"].ne(OK)]
    table = failed.rename(columns={"outcome": "reason"}).reset_index()
    table = table[list(FAILURE_COLUMNS)]
    if run is not None:
        table = pd.concat([table, run.condor_columns(table["job_id"])], axis=1)
        table["stderr_tail"] = _stderr_tails(table, run)
    params = [k for k in param_keys if k != "model"]
    by_folder = records.reindex(table["folder"].where(table["folder"].ne(""), "\0"))
    for key in params:
        values = by_folder[key].to_numpy() if key in by_folder.columns else None
        column = pd.Series(values, index=table.index, dtype=object)
        if run is not None and key in run.jobs.columns:
            listed = table["job_id"].map(run.jobs[key])
            column = column.where(column.notna(), listed)
        table[key] = column
    table = integers_as_integers(table)
    rank = table["reason"].map({reason: i for i, reason in enumerate(REASONS)})
    table = table.assign(_rank=rank).sort_values(["_rank", "job_id"]).drop(columns="_rank")
    return table.reset_index(drop=True)


def _stderr_tails(table: pd.DataFrame, run: RunInfo) -> pd.Series:
    """The tail of the batch's stderr log for trainings that ran and ended badly ('' else)."""
    ended = table["reason"].isin(LOGGED).to_numpy()
    jobs = table["job_id"][ended].tolist()
    batches = {job: batch for job in jobs if (batch := run.batch_of(job))}
    tails = stderr_tails(RunPaths(run.root).logs, batches)
    return pd.Series(
        [tails.get(job, "") for job in table["job_id"]], index=table.index, dtype=object
    )


__all__ = ["REASONS", "JobStates", "failure_table", "job_states"]
