"""`run_builder status RUN`: where every training and batch stands, from results and events.

A training is
- done      its results/<job_id>/ holds valid results;
- running / idle / held   its batch's latest job (which includes it) is in that state
            (an evicted job waiting to run again counts as idle, and so does a proc a throttled
            cluster's job factory has not materialised yet, until the cluster is removed);
- failed    its folder holds error.json (and no job is about to retry it);
- missing   anything else: never submitted, its job was removed, or the job ended without
            leaving a result for it.
Only files are read (results/, logs/events.log, submissions.json): no schedd needed.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dmsweep.core.events import CondorRecord, read_condor_records
from dmsweep.core.submissions import read_submissions
from dmsweep.run_builder.folder import REUSED_BATCH
from dmsweep.run_builder.run import Run

STATES = ("done", "running", "idle", "held", "failed", "missing")
LIVE = {"idle": "idle", "evicted": "idle", "running": "running", "held": "held"}


@dataclass(frozen=True)
class TrainingStatus:
    job_id: str
    batch_id: str
    state: str
    detail: str = ""
    """Hold reason, error summary, or why it is missing."""


@dataclass(frozen=True)
class RunStatus:
    trainings: tuple[TrainingStatus, ...]
    records: dict[str, CondorRecord] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        found = Counter(t.state for t in self.trainings)
        return {state: found.get(state, 0) for state in STATES}

    def batch_states(self) -> dict[str, str]:
        """batch_id -> its state: done when every training is, else the most pressing state of
        its trainings (held, running, idle, failed, missing in that order)."""
        states: dict[str, set[str]] = {}
        for t in self.trainings:
            states.setdefault(t.batch_id, set()).add(t.state)
        order = ("held", "running", "idle", "failed", "missing")
        return {
            batch: next((s for s in order if s in found), "done") for batch, found in states.items()
        }

    @property
    def finished(self) -> bool:
        """Nothing queued or running any more (held jobs wait for a person)."""
        counts = self.counts()
        return counts["running"] == 0 and counts["idle"] == 0


def run_status(run: Run) -> RunStatus:
    batch_of = run.batch_of
    done = run.completed(batch_of)
    failed = run.failed(set(batch_of) - done)
    records = read_condor_records(run.paths.root)
    included = _latest_trainings(run)
    out = []
    for job_id, batch in batch_of.items():
        record = records.get(batch)
        if job_id in done:
            out.append(TrainingStatus(job_id, batch, "done"))
        elif record and record.state in LIVE and job_id in included.get(batch, ()):
            detail = (record.hold_reason or "") if record.state == "held" else ""
            out.append(TrainingStatus(job_id, batch, LIVE[record.state], detail))
        elif job_id in failed:
            out.append(TrainingStatus(job_id, batch, "failed", failed[job_id]))
        else:
            out.append(TrainingStatus(job_id, batch, "missing", _why_missing(batch, record)))
    return RunStatus(tuple(out), records)


def _latest_trainings(run: Run) -> dict[str, set[str]]:
    """batch_id -> the trainings its latest submission runs."""
    latest: dict[str, set[str]] = {}
    for submission in read_submissions(run.paths):
        if submission.kind == "preflight":
            continue
        for batch in submission.batches:
            jobs = submission.trainings.get(batch)
            if jobs is None:  # an entry without per-batch trainings: the batch as built
                jobs = [j for j, b in run.batch_of.items() if b == batch]
            latest[batch] = set(jobs)
    return latest


def _why_missing(batch: str, record: CondorRecord | None) -> str:
    if batch == REUSED_BATCH:
        return "reused result disappeared"
    if record is None:
        return "never submitted"
    if record.state == "aborted":
        return f"job {record.cluster}.{record.proc} was removed"
    if record.state == "terminated":
        return f"job {record.cluster}.{record.proc} ended (exit code {record.exit_code}) without it"
    return f"not in job {record.cluster}.{record.proc}"


def format_status(
    status: RunStatus, *, name: str, details: bool = True, limit: int = 20
) -> list[str]:
    """Training counts, batch counts, then the batches and trainings that are not done."""
    counts = status.counts()
    lines = [f"{name}: {len(status.trainings):,} trainings: " + _counted(counts)]
    batches = status.batch_states()
    lines.append(f"batches: {len(batches):,}: " + _counted(Counter(batches.values())))
    if not details:
        return lines
    size = Counter(t.batch_id for t in status.trainings)
    detail = {t.batch_id: t.detail for t in status.trainings if t.state == batches[t.batch_id]}
    pending = [b for b, state in batches.items() if state != "done"]
    if pending:
        lines.append(f"  {'batch':<10}{'job':<10}{'state':<9}{'trainings':>9}  detail")
    for batch in pending[:limit]:
        record = status.records.get(batch)
        job = f"{record.cluster}.{record.proc}" if record else "-"
        lines.append(
            f"  {batch:<10}{job:<10}{batches[batch]:<9}{size[batch]:>9}  {detail.get(batch, '')}"
        )
    attention = [t for t in status.trainings if t.state in ("held", "failed", "missing")]
    if attention:
        lines.append("trainings needing attention:")
    for t in attention[:limit]:
        lines.append(f"  {t.state:<8} {t.job_id} (batch {t.batch_id}): {t.detail}")
    if len(pending) > limit or len(attention) > limit:
        lines.append("  ... (more: run_builder status --all)")
    return lines


def _counted(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts.get(s, 0):,} {s}" for s in STATES if counts.get(s) or s == "done")


def watch(
    run: Run, *, interval_s: float = 10.0, out: Callable[[str], None] | None = None
) -> RunStatus:
    """Show a progress bar of finished trainings until nothing is idle or running."""
    from tqdm import tqdm

    status = run_status(run)
    with tqdm(total=len(status.trainings), unit="training", file=sys.stderr) as bar:
        while True:
            counts = status.counts()
            bar.n = counts["done"] + counts["failed"]
            bar.set_postfix({s: counts[s] for s in STATES[1:] if counts[s]}, refresh=False)
            bar.refresh()
            if status.finished:
                break
            time.sleep(interval_s)
            status = run_status(run)
    for line in format_status(status, name=run.name):
        (out or print)(line)
    return status
