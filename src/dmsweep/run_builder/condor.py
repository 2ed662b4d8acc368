"""The one module that talks to HTCondor (through the `htcondor2` bindings, imported lazily).

Everything here returns plain Python values, so the rest of the run builder (and its tests)
never touch the bindings. Which pool: $CONDOR_CONFIG as usual; when it is unset and the
machine has no system-wide HTCondor configuration, the personal pool of
`scripts/personal-condor.sh` ($DMSWEEP_PERSONAL_CONDOR_CONFIG, default
/var/lib/condor-ci/condor_config) when that exists.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmsweep.errors import SchedulerError
from dmsweep.run_builder import runfiles
from dmsweep.run_builder.escaping import refuse_control, submit_text
from dmsweep.run_builder.queuefile import QueueLine

PERSONAL_CONFIG = Path(
    os.environ.get("DMSWEEP_PERSONAL_CONDOR_CONFIG", "/var/lib/condor-ci/condor_config")
)
START_POOL_HINT = "start the personal pool with scripts/personal-condor.sh start"
JOB_STATUS = {
    1: "idle",
    2: "running",
    3: "removed",
    4: "completed",
    5: "held",
    6: "running",
    7: "idle",
}
"""HTCondor JobStatus -> our word (6 is transferring output, 7 suspended)."""
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


@dataclass(frozen=True)
class QueuedJob:
    """A job the schedd still holds (idle, running, held ...)."""

    cluster: int
    proc: int
    status: str
    hold_reason: str | None
    hold_code: int | None
    hold_subcode: int | None
    request_memory_mb: int | None
    request_disk_mb: int | None


_module: Any = None


def _htcondor() -> Any:
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


def _schedd() -> Any:
    htcondor = _htcondor()
    try:
        return htcondor.Schedd()
    except Exception as err:
        raise SchedulerError(
            f"no HTCondor schedd reachable ({_one_line(err)}); {START_POOL_HINT}"
        ) from None


def ping() -> None:
    """Raise SchedulerError with a hint unless a schedd answers a query."""
    try:
        _schedd().query(constraint="false", projection=["ClusterId"])
    except SchedulerError:
        raise
    except Exception as err:
        raise SchedulerError(
            f"the HTCondor schedd does not answer ({_one_line(err)}); {START_POOL_HINT}"
        ) from None


def submit(run_dir: Path, lines: Sequence[QueueLine], *, preflight: bool = False) -> int:
    """Submit one cluster: proc i runs lines[i], with the run folder's sweep.sub. Returns the
    cluster id. `preflight` runs the wrapper with --preflight and brings back preflight/."""
    htcondor = _htcondor()
    paths = runfiles.RunPaths(run_dir)
    text = paths.submit_file.read_text()
    body = "\n".join(
        line for line in text.splitlines() if not line.lstrip().lower().startswith("queue")
    )
    try:
        description = htcondor.Submit(body)
    except Exception as err:
        raise SchedulerError(f"{paths.submit_file}: {_one_line(err)}") from None
    description["initialdir"] = submit_text(refuse_control(str(run_dir), "run folder"))
    description["executable"] = submit_text(str(paths.wrapper))
    if preflight:
        description["arguments"] = '"--preflight $(batch_id) $(cpus) $(configs)"'
        description["transfer_output_files"] = runfiles.PREFLIGHT
        for key in ("max_idle", "max_materialize"):  # one job: no throttles
            if key in description:
                description[key] = ""  # keys cannot be deleted; empty means unset
    try:
        result = _schedd().submit(description, itemdata=iter([line.itemdata() for line in lines]))
    except SchedulerError:
        raise
    except Exception as err:
        raise SchedulerError(f"submitting {run_dir.name} failed: {_one_line(err)}") from None
    return int(result.cluster())


def queued_jobs(clusters: Sequence[int]) -> list[QueuedJob]:
    """Jobs of these clusters the schedd still holds."""
    if not clusters:
        return []
    constraint = " || ".join(f"ClusterId == {int(c)}" for c in sorted(set(clusters)))
    projection = [
        "ClusterId", "ProcId", "JobStatus", "HoldReason", "HoldReasonCode",
        "HoldReasonSubCode", "RequestMemory", "RequestDisk",
    ]  # fmt: skip
    try:
        ads = _schedd().query(constraint=constraint, projection=projection)
    except SchedulerError:
        raise
    except Exception as err:
        raise SchedulerError(f"querying the schedd failed: {_one_line(err)}") from None
    jobs = []
    for ad in ads:
        disk = ad.get("RequestDisk")
        jobs.append(
            QueuedJob(
                cluster=int(ad["ClusterId"]),
                proc=int(ad["ProcId"]),
                status=JOB_STATUS.get(int(ad.get("JobStatus", 0)), "unknown"),
                hold_reason=ad.get("HoldReason"),
                hold_code=_int_or_none(ad.get("HoldReasonCode")),
                hold_subcode=_int_or_none(ad.get("HoldReasonSubCode")),
                request_memory_mb=_int_or_none(ad.get("RequestMemory")),
                request_disk_mb=None if _int_or_none(disk) is None else int(disk) // 1024,
            )
        )
    return jobs


def remove(job_ids: Sequence[tuple[int, int]], reason: str) -> None:
    _act("Remove", job_ids, reason)


def hold(job_ids: Sequence[tuple[int, int]], reason: str) -> None:
    _act("Hold", job_ids, reason)


def _act(action: str, job_ids: Sequence[tuple[int, int]], reason: str) -> None:
    if not job_ids:
        return
    htcondor = _htcondor()
    try:
        # a tuple: htcondor2 25.x drops a reason given as a plain string
        _schedd().act(
            getattr(htcondor.JobAction, action),
            [f"{cluster}.{proc}" for cluster, proc in job_ids],
            reason=(reason, None),
        )
    except SchedulerError:
        raise
    except Exception as err:
        raise SchedulerError(f"{action.lower()} failed: {_one_line(err)}") from None


def read_events(log: Path) -> Iterator[Event]:
    """Every job event of the log the run builder cares about, oldest first."""
    if not log.is_file() or log.stat().st_size == 0:
        return
    htcondor = _htcondor()
    try:
        events = htcondor.JobEventLog(str(log)).events(stop_after=0)
        for event in events:
            kind = EVENT_NAMES.get(event.type.name)
            if kind is not None:
                yield Event(event.cluster, event.proc, kind, float(event.timestamp), dict(event))
    except Exception as err:
        raise SchedulerError(f"{log}: unreadable job event log: {_one_line(err)}") from None


def wait_for(log: Path, cluster: int, *, timeout_s: float, poll_s: float = 2.0) -> Event:
    """Block until a proc of `cluster` terminates, is aborted or held; returns that event."""
    deadline = time.monotonic() + timeout_s
    while True:
        for event in read_events(log):
            if event.cluster == cluster and event.kind in ("terminated", "aborted", "held"):
                return event
        if time.monotonic() > deadline:
            raise SchedulerError(f"job {cluster}.0 did not finish within {timeout_s:.0f} s")
        time.sleep(poll_s)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
