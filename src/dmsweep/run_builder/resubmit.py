"""`run_builder resubmit RUN`: queue again exactly the trainings that have no valid result.

1. Ask the schedd which jobs of this run it still holds, and which procs the job factories of
   throttled clusters have yet to materialise. Trainings of idle, running or unmaterialised
   jobs are left alone (they will run), so resubmitting twice never duplicates work.
2. Held jobs are removed; a job held for memory or disk asks for twice as much when it goes
   back (`--requeue-idle` also removes idle jobs and queues their trainings again).
3. Every other training without valid results (failed, removed, never ran, lost) goes back in
   a new cluster, batched as built but reduced to the missing trainings. Results on disk are
   never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dmsweep.core.queuefile import QueueLine
from dmsweep.core.submissions import Submission, read_submissions, record_submission
from dmsweep.run_builder import condor
from dmsweep.run_builder.credentials import CredentialsFile
from dmsweep.run_builder.run import Run

GROWTH = 2.0
"""Factor on memory or disk for a job held for exceeding it."""
MEMORY_HOLD = re.compile(r"memory|oom|out of memory", re.IGNORECASE)
DISK_HOLD = re.compile(r"\bdisk\b|no space", re.IGNORECASE)
RESOURCE_HOLD_CODES = {34}
"""HoldReasonCode 34: the job exceeded a resource limit (memory or disk, named in the reason)."""


@dataclass(frozen=True)
class ResubmitPlan:
    lines: tuple[QueueLine, ...]
    remove: tuple[tuple[int, int], ...] = ()
    """Held (and with requeue_idle, idle) jobs to remove first."""
    live: int = 0
    """Trainings left alone because their job is idle or running."""
    grown: dict[str, str] = field(default_factory=dict)
    """batch_id -> what was raised and why."""

    @property
    def trainings(self) -> int:
        return sum(len(line.configs) for line in self.lines)


def plan_resubmit(
    run: Run, queued: Sequence[condor.QueuedJob], *, requeue_idle: bool = False
) -> ResubmitPlan:
    """Decide what goes back, given the jobs the schedd still holds for this run."""
    submissions = read_submissions(run.paths)
    by_job = {
        (s.cluster, proc): (s, batch)
        for s in submissions
        if s.kind != "preflight"
        for proc, batch in enumerate(s.batches)
    }
    requests = _latest_requests(run, submissions)
    live_trainings: set[str] = set()
    remove: list[tuple[int, int]] = []
    scale: dict[str, tuple[float, float, str]] = {}
    for job in queued:
        owner = by_job.get((job.cluster, job.proc))
        if owner is None or job.status in ("removed", "completed"):
            continue
        submission, batch = owner
        trainings = submission.trainings.get(batch, [])
        if job.status == "held":
            remove.append((job.cluster, job.proc))
            memory, disk = _growth(job)
            if memory != 1.0 or disk != 1.0:
                scale[batch] = (memory, disk, job.hold_reason or "")
        elif job.status == "idle" and requeue_idle:
            remove.append((job.cluster, job.proc))
        else:
            live_trainings.update(trainings)

    lines = []
    grown = {}
    for line in run.pending_lines(exclude=live_trainings):
        memory_mb, disk_mb = requests.get(line.batch_id, (line.memory_mb, line.disk_mb))
        line = QueueLine(
            line.batch_id, line.cpus, memory_mb, disk_mb, line.gpus, line.req, line.configs
        )
        if line.batch_id in scale:
            memory, disk, reason = scale[line.batch_id]
            line = line.scaled(memory=memory, disk=disk)
            grown[line.batch_id] = (
                f"memory {memory_mb} -> {line.memory_mb} MB, disk {disk_mb} -> {line.disk_mb} MB "
                f"(held: {' '.join(reason.split())[:120]})"
            )
        lines.append(line)
    return ResubmitPlan(tuple(lines), tuple(remove), len(live_trainings), grown)


def resubmit(
    run: Run,
    *,
    dry_run: bool = False,
    requeue_idle: bool = False,
    credentials: CredentialsFile | None = None,
    log: Callable[[str], None] = print,
) -> ResubmitPlan:
    clusters = [s.cluster for s in read_submissions(run.paths)]
    queued = condor.queued_jobs(clusters)
    plan = plan_resubmit(run, queued, requeue_idle=requeue_idle)
    if plan.live:
        log(f"{plan.live:,} trainings are still queued or running: left alone")
    for batch, change in plan.grown.items():
        log(f"batch {batch}: {change}")
    if not plan.lines and not plan.remove:
        log("nothing to resubmit")
        return plan
    verb = "would" if dry_run else "will"
    if plan.remove:
        log(
            f"{verb} remove {len(plan.remove)} held/idle jobs: "
            + ", ".join(f"{c}.{p}" for c, p in plan.remove[:10])
        )
    log(f"{verb} resubmit {plan.trainings:,} trainings in {len(plan.lines):,} jobs")
    if dry_run:
        return plan
    condor.remove(list(plan.remove), reason="dmsweep resubmit: replaced by a new job")
    if plan.lines:
        cluster = condor.submit(run.paths.root, plan.lines, credentials=credentials)
        record_submission(run.paths, Submission.of(cluster, "resubmit", plan.lines))
        log(f"submitted cluster {cluster}")
    return plan


def _growth(job: condor.QueuedJob) -> tuple[float, float]:
    """(memory factor, disk factor) for a held job."""
    reason = job.hold_reason or ""
    resource = job.hold_code in RESOURCE_HOLD_CODES or bool(
        MEMORY_HOLD.search(reason) or DISK_HOLD.search(reason)
    )
    if not resource:
        return 1.0, 1.0
    memory = GROWTH if MEMORY_HOLD.search(reason) else 1.0
    disk = GROWTH if DISK_HOLD.search(reason) else 1.0
    if memory == disk == 1.0:  # code 34 without a readable reason: raise both
        memory = disk = GROWTH
    return memory, disk


def _latest_requests(run: Run, submissions: Sequence[Submission]) -> dict[str, tuple[int, int]]:
    """batch_id -> (memory_mb, disk_mb) it last asked for (resubmits may have raised them)."""
    latest = {}
    for submission in submissions:
        for batch, request in submission.requests.items():
            latest[batch] = (int(request["memory_mb"]), int(request["disk_mb"]))
    return latest
