"""What HTCondor says happened to each batch, read from the run's job event log.

Shared core: `run_builder` (status, resubmit) and `aggregate` both read the event log, so
reading it lives here, beside the loader of the `htcondor2` bindings that
`run_builder.condor` (the one module that talks to the schedd) uses too.

`read_condor_records` folds logs/events.log into one `CondorRecord` per batch, mapping
cluster.proc to batch ids through submissions.json. A batch submitted more than once (resubmits)
is described by its latest submission. Works on a copied run folder: no schedd needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dmsweep.core.runfiles import RunPaths
from dmsweep.core.submissions import read_submissions
from dmsweep.errors import SchedulerError, one_line

PERSONAL_CONFIG = Path(
    os.environ.get("DMSWEEP_PERSONAL_CONDOR_CONFIG", "/var/lib/condor-ci/condor_config")
)
"""The personal pool of scripts/personal-condor.sh, used when nothing else is configured."""
EVENT_NAMES = {
    "SUBMIT": "submit",
    "EXECUTE": "execute",
    "IMAGE_SIZE": "image_size",
    "JOB_EVICTED": "evicted",
    "JOB_HELD": "held",
    "JOB_RELEASED": "released",
    "JOB_TERMINATED": "terminated",
    "JOB_ABORTED": "aborted",
    "SHADOW_EXCEPTION": "shadow_exception",
    "JOB_RECONNECT_FAILED": "reconnect_failed",
    "CLUSTER_REMOVE": "cluster_removed",
}
"""The job events the run builder reads, by their htcondor2.JobEventType name."""


@dataclass(frozen=True)
class Event:
    cluster: int
    proc: int
    kind: str
    """A value of EVENT_NAMES."""
    time: float
    attrs: dict[str, Any] = field(default_factory=dict)


_module: Any = None


def htcondor_bindings() -> Any:
    """The `htcondor2` module, imported on first use (with the personal pool's configuration
    when the machine has no other): the one place that loads the bindings."""
    global _module
    if _module is None:
        system = Path("/etc/condor/condor_config")
        if "CONDOR_CONFIG" not in os.environ and not system.exists() and PERSONAL_CONFIG.is_file():
            os.environ["CONDOR_CONFIG"] = str(PERSONAL_CONFIG)
        try:
            import htcondor2
        except ImportError as err:
            raise SchedulerError(
                f"the HTCondor Python bindings are missing ({err}): pip install htcondor"
            ) from None
        _module = htcondor2
    return _module


def read_events(log: Path) -> Iterator[Event]:
    """Every job event of the log the run builder cares about, oldest first."""
    if not log.is_file() or log.stat().st_size == 0:
        return
    htcondor = htcondor_bindings()
    try:
        events = htcondor.JobEventLog(str(log)).events(stop_after=0)
        for event in events:
            kind = EVENT_NAMES.get(event.type.name)
            if kind is not None:
                yield Event(event.cluster, event.proc, kind, float(event.timestamp), dict(event))
    except Exception as err:
        raise SchedulerError(f"{log}: unreadable job event log: {one_line(err)}") from None


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
        if event.kind == "cluster_removed":
            _factory_ended(records, event)
            continue
        key = (event.cluster, event.proc)
        record = records.get(key)
        if record is None:
            continue
        records[key] = _apply(record, event, started)
    return {batch: records[key] for batch, key in latest.items()}


def _factory_ended(records: dict[tuple[int, int], CondorRecord], event: Event) -> None:
    """A cluster's job factory (max_idle / max_materialize) is gone, removed or done: the procs
    it never materialised (from NextProcId on) will never run. Until then they count as idle,
    though no event of theirs is in the log."""
    first = int(event.attrs.get("NextProcId", 0))
    for key, record in records.items():
        if key[0] == event.cluster and key[1] >= first:
            records[key] = replace(record, state="aborted")


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
