"""The one module that talks to HTCondor (through the `htcondor2` bindings, imported lazily).

Everything here returns plain Python values, so the rest of the run builder (and its tests)
never touch the bindings. Which pool: $CONDOR_CONFIG as usual; when it is unset and the
machine has no system-wide HTCondor configuration, the personal pool of
`scripts/personal-condor.sh` ($DMSWEEP_PERSONAL_CONDOR_CONFIG, default
/var/lib/condor-ci/condor_config) when that exists.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmsweep.core import runfiles
from dmsweep.core.events import Event, read_events
from dmsweep.core.events import htcondor_bindings as _htcondor
from dmsweep.core.queuefile import QueueLine
from dmsweep.errors import SchedulerError
from dmsweep.errors import one_line as _one_line
from dmsweep.run_builder.credentials import CredentialsFile
from dmsweep.run_builder.escaping import refuse_control, submit_text

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
UNMATERIALISED = "unmaterialised"
"""A proc the cluster's job factory (max_idle / max_materialize) has not made a job of yet: it
will run while the factory lives, and cannot be removed on its own."""


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


def submit(
    run_dir: Path,
    lines: Sequence[QueueLine],
    *,
    preflight: bool = False,
    credentials: CredentialsFile | None = None,
) -> int:
    """Submit one cluster: proc i runs lines[i], with the run folder's sweep.sub. Returns the
    cluster id. `preflight` runs the wrapper with --preflight and brings back preflight/;
    `credentials` travels with every job (this description only, never sweep.sub)."""
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
    if credentials is not None:
        add_credentials(description, credentials)
    try:
        result = _schedd().submit(description, itemdata=iter([line.itemdata() for line in lines]))
    except SchedulerError:
        raise
    except Exception as err:
        raise SchedulerError(f"submitting {run_dir.name} failed: {_one_line(err)}") from None
    return int(result.cluster())


def add_credentials(description: Any, credentials: CredentialsFile) -> None:
    """Transfer the credentials file with the job and name it in the job's environment."""
    files = description.get("transfer_input_files") or ""
    path = submit_text(refuse_control(str(credentials.path), "--db-credentials"))
    description["transfer_input_files"] = f"{files}, {path}" if files else str(path)
    variable = credentials.environment()
    current = (description.get("environment") or "").strip()
    if current.startswith('"') and current.endswith('"') and len(current) > 1:
        description["environment"] = f'{current[:-1]} {variable}"'
    else:
        description["environment"] = f'"{variable}"'


def queued_jobs(clusters: Sequence[int]) -> list[QueuedJob]:
    """Jobs of these clusters the schedd still holds, and the procs their live job factories
    have yet to materialise (status `UNMATERIALISED`)."""
    if not clusters:
        return []
    constraint = " || ".join(f"ClusterId == {int(c)}" for c in sorted(set(clusters)))
    projection = [
        "ClusterId", "ProcId", "JobStatus", "HoldReason", "HoldReasonCode",
        "HoldReasonSubCode", "RequestMemory", "RequestDisk",
        "JobMaterializeNextProcId", "TotalSubmitProcs",
    ]  # fmt: skip
    try:
        ads = _schedd().query(
            constraint=constraint, projection=projection, opts=_htcondor().QueryOpt.IncludeClusterAd
        )
    except SchedulerError:
        raise
    except Exception as err:
        raise SchedulerError(f"querying the schedd failed: {_one_line(err)}") from None
    jobs = []
    for ad in ads:
        if "ProcId" not in ad:  # a cluster ad: its factory's procs still to come
            jobs.extend(_unmaterialised(ad))
            continue
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


def _unmaterialised(cluster_ad: Any) -> list[QueuedJob]:
    first = _int_or_none(cluster_ad.get("JobMaterializeNextProcId"))
    total = _int_or_none(cluster_ad.get("TotalSubmitProcs"))
    if first is None or total is None:  # not a factory cluster
        return []
    cluster = int(cluster_ad["ClusterId"])
    return [
        QueuedJob(cluster, proc, UNMATERIALISED, None, None, None, None, None)
        for proc in range(first, total)
    ]


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
