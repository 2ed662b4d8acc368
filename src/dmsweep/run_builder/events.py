"""What HTCondor says happened to each batch, read from the run's job event log.

`read_condor_records` folds logs/events.log into one `CondorRecord` per batch, mapping
cluster.proc to batch ids through submissions.json. A batch submitted more than once (resubmits)
is described by its latest submission. Works on a copied run folder: no schedd needed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dmsweep.run_builder.condor import Event, read_events
from dmsweep.run_builder.runfiles import RunPaths
from dmsweep.run_builder.submissions import read_submissions

STATES = ("idle", "running", "held", "evicted", "terminated", "aborted")


@dataclass(frozen=True)
class CondorRecord:
    batch_id: str
    cluster: int
    proc: int
    state: str
    """One of STATES: "evicted" means evicted and waiting to run again."""
    exit_code: int | None
    """The job's exit status when it terminated normally (run_job.sh: 1 = a training failed)."""
    hold_reason: str | None
    evictions: int
    wall_time_s: float | None
    """From the last start of execution to termination."""
    memory_mb: float | None
    """Peak memory HTCondor measured (MB)."""
    host: str | None


def read_condor_records(run_dir: Path) -> dict[str, CondorRecord]:
    """batch_id -> the record of its latest submission (preflight jobs left out)."""
    paths = RunPaths(Path(run_dir))
    owner: dict[tuple[int, int], str] = {}
    latest: dict[str, tuple[int, int]] = {}
    for submission in read_submissions(paths):
        if submission.kind == "preflight":
            continue
        for proc, batch in enumerate(submission.batches):
            owner[(submission.cluster, proc)] = batch
            latest[batch] = (submission.cluster, proc)
    wanted = set(latest.values())
    records: dict[tuple[int, int], CondorRecord] = {
        key: CondorRecord(owner[key], key[0], key[1], "idle", None, None, 0, None, None, None)
        for key in wanted
    }
    started: dict[tuple[int, int], float] = {}
    for event in read_events(paths.events_log):
        key = (event.cluster, event.proc)
        record = records.get(key)
        if record is None:
            continue
        records[key] = _apply(record, event, started)
    return {batch: records[key] for batch, key in latest.items()}


def _apply(
    record: CondorRecord, event: Event, started: dict[tuple[int, int], float]
) -> CondorRecord:
    key = (record.cluster, record.proc)
    attrs = event.attrs
    kind = event.kind
    if kind == "submit":
        return replace(record, state="idle")
    if kind == "execute":
        started[key] = event.time
        slot = attrs.get("SlotName") or ""
        host = slot.split("@", 1)[1] if "@" in slot else _alias(attrs.get("ExecuteHost"))
        return replace(record, state="running", host=host or record.host, hold_reason=None)
    if kind == "image_size":
        return replace(record, memory_mb=_peak(record.memory_mb, attrs.get("MemoryUsage")))
    if kind == "evicted":
        return replace(record, state="evicted", evictions=record.evictions + 1)
    if kind == "held":
        return replace(record, state="held", hold_reason=str(attrs.get("HoldReason") or "held"))
    if kind in ("released", "shadow_exception", "reconnect_failed"):
        return replace(record, state="idle", hold_reason=None)
    if kind == "terminated":
        normal = bool(attrs.get("TerminatedNormally"))
        begin = started.get(key)
        return replace(
            record,
            state="terminated",
            exit_code=int(attrs["ReturnValue"]) if normal and "ReturnValue" in attrs else None,
            wall_time_s=None if begin is None else round(event.time - begin, 3),
            memory_mb=_peak(record.memory_mb, attrs.get("MemoryUsage")),
        )
    if kind == "aborted":
        return replace(record, state="aborted")
    return record


def _peak(current: float | None, value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return current
    return number if current is None else max(current, number)


def _alias(sinful: object) -> str | None:
    """'vm' from '<127.0.0.1:9618?addrs=...&alias=vm>', else the address."""
    if not isinstance(sinful, str):
        return None
    for part in sinful.strip("<>").split("&"):
        if part.startswith("alias="):
            return part[len("alias=") :]
    return sinful.strip("<>").split("?")[0] or None
