"""`run_builder submit RUN`: the whole queue as one cluster, optionally after a preflight job.

The preflight job runs the wrapper with --preflight on the first training of each model type
(unpack the environment, import everything, load the data, train one epoch) and the sweep goes
out only if it succeeds; with a GPU environment, one such job per environment. Each
submission is recorded in submissions.json.
"""

from __future__ import annotations

from collections.abc import Callable

from dmsweep.core.queuefile import QueueLine
from dmsweep.core.runfiles import PREFLIGHT_REPORT
from dmsweep.core.submissions import Submission, read_submissions, record_submission
from dmsweep.errors import SchedulerError
from dmsweep.run_builder import condor
from dmsweep.run_builder.credentials import CredentialsFile
from dmsweep.run_builder.run import Run

PREFLIGHT_TIMEOUT_S = 3600.0


def submit_run(
    run: Run,
    *,
    preflight: bool | None = None,
    force: bool = False,
    preflight_timeout_s: float = PREFLIGHT_TIMEOUT_S,
    credentials: CredentialsFile | None = None,
    log: Callable[[str], None] = print,
) -> Submission | None:
    """Submit every queue line as one cluster; `preflight` None follows the spec. None when
    nothing is queued (every training was reused from earlier runs). `credentials` (a
    database login) travels with every job, preflight included."""
    earlier = [s for s in read_submissions(run.paths) if s.kind == "sweep"]
    if earlier and not force:
        raise SchedulerError(
            f"{run.name} was submitted already (cluster {earlier[-1].cluster}): use "
            "run_builder resubmit for what is missing, or submit --force to queue it all again"
        )
    if not run.queue:
        log(f"{run.name}: nothing queued (every training has results already)")
        return None
    if preflight if preflight is not None else run.manifest.preflight:
        run_preflight(run, timeout_s=preflight_timeout_s, credentials=credentials, log=log)
    lines = run.queue
    cluster = condor.submit(run.paths.root, lines, credentials=credentials)
    submission = Submission.of(cluster, "sweep", lines)
    record_submission(run.paths, submission)
    trainings = sum(len(line.configs) for line in lines)
    log(f"submitted {len(lines):,} jobs ({trainings:,} trainings) as cluster {cluster}")
    return submission


def run_preflight(
    run: Run,
    *,
    timeout_s: float,
    credentials: CredentialsFile | None = None,
    log: Callable[[str], None] = print,
) -> None:
    """Submit the preflight job(s), one per environment, one after another; SchedulerError
    (with its stderr) at the first that fails."""
    for line in run.preflight_lines():
        _preflight_job(run, line, timeout_s=timeout_s, credentials=credentials, log=log)


def _preflight_job(
    run: Run,
    line: QueueLine,
    *,
    timeout_s: float,
    credentials: CredentialsFile | None,
    log: Callable[[str], None],
) -> None:
    report = run.paths.preflight / PREFLIGHT_REPORT
    report.unlink(missing_ok=True)  # an earlier job's report must not pass this one
    cluster = condor.submit(run.paths.root, [line], preflight=True, credentials=credentials)
    record_submission(run.paths, Submission.of(cluster, "preflight", [line]))
    log(f"preflight job {cluster}.0 submitted ({len(line.configs)} trainings, one epoch each)")
    event = condor.wait_for(run.paths.events_log, cluster, timeout_s=timeout_s)
    exit_code = event.attrs.get("ReturnValue") if event.kind == "terminated" else None
    if event.kind == "held":
        condor.remove([(cluster, 0)], reason="dmsweep preflight held")
    if event.kind != "terminated" or exit_code != 0 or not report.is_file():
        why = event.attrs.get("HoldReason") or f"{event.kind}, exit code {exit_code}"
        raise SchedulerError(
            f"preflight job {cluster}.0 failed ({why}); the sweep was not submitted. "
            f"Its stderr ends: {_tail(run, cluster)}"
        )
    log(f"preflight passed: {report.read_text().strip()}")


def _tail(run: Run, cluster: int, lines: int = 5) -> str:
    err = run.paths.logs / f"preflight.{cluster}.err"
    try:
        text = err.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"(no {err.name})"
    return " | ".join(text[-lines:]) or "(empty)"
