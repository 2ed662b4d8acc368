"""`run_builder run-local RUN -j N`: the run's own job wrapper, N batches at a time, no pool.

Each batch runs in a scratch folder (`RUN/.scratch/<batch>-<pid>-<n>/`) set up the way HTCondor
sets up a job's: a copy of code/, links to data/ and the environment file, nothing of the
caller's Python environment. Its finished job folders are then moved into results/ (a
rename: the scratch folder is inside the run folder), so the outputs are exactly those of a
pool run. Only trainings without valid results run, so an interrupted run-local simply
continues.

One run-local per run folder at a time (a lock file, `RUN/.run-local.lock`). SIGINT or SIGTERM
(Ctrl-C) stops launching batches, ends the running ones (SIGTERM to each batch's process group,
SIGKILL after `KILL_AFTER_S`), keeps every training that finished and exits 128 + the signal.
If run-local itself is killed, its batches die with it (core/processes.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dmsweep.core import runfiles
from dmsweep.core.processes import dying_with_parent
from dmsweep.core.queuefile import QueueLine, encode_configs
from dmsweep.core.results import is_valid_result
from dmsweep.errors import DmsweepError
from dmsweep.run_builder.run import Run

PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
"""The caller's environment variables a local job sees (a pool job sees none of them)."""
LOCK_FILE = ".run-local.lock"
KILL_AFTER_S = 20.0
"""How long a stopped batch gets to end after SIGTERM before its process group is killed."""


class Interrupted(DmsweepError):
    """run-local was stopped by a signal; `signum` gives the exit status (128 + signum)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: str
    returncode: int
    done: int
    failed: int
    log: Path


@dataclass
class _Stopper:
    """What a SIGINT/SIGTERM does while batches run: no new batch starts, running ones end."""

    signum: int | None = None
    running: set[subprocess.Popen[bytes]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self, signum: int, _frame: object = None) -> None:
        """The first signal ends running batches gently; a second one kills them now."""
        again = self.signum is not None
        self.signum = self.signum or signum
        with self.lock:
            groups = [p.pid for p in self.running]
        if again:
            _signal_groups(groups, signal.SIGKILL)
            return
        _signal_groups(groups, signal.SIGTERM)
        timer = threading.Timer(KILL_AFTER_S, _signal_groups, args=(groups, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def launch(
        self, command: list[str], cwd: Path, env: dict[str, str], out: IO[str], err: IO[str]
    ) -> subprocess.Popen[bytes] | None:
        """Start `command` in a process group of its own, unless a stop was asked for."""
        with self.lock:
            if self.signum is not None:
                return None
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
            )
            self.running.add(process)
            return process

    def wait(self, process: subprocess.Popen[bytes]) -> int:
        try:
            return process.wait()
        finally:
            with self.lock:
                self.running.discard(process)


def _signal_groups(leaders: list[int], signum: int) -> None:
    """`signum` to the process group of each leader (a batch's wrapper); gone ones are skipped."""
    for pid in leaders:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)


def run_local(
    run: Run,
    *,
    jobs: int = 1,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> list[BatchOutcome]:
    """Run every pending batch; returns one outcome per batch, in completion order."""
    if jobs < 1:
        raise DmsweepError(f"run-local -j: expected an integer >= 1, got {jobs}")
    with _only_run_local(run):
        _remove_dead_scratch(run)
        lines = run.pending_lines()
        if not lines:
            log(f"{run.name}: every training has valid results; nothing to run")
            return []
        total = sum(len(line.configs) for line in lines)
        log(f"{run.name}: {total:,} trainings in {len(lines):,} jobs, {jobs} at a time")
        stopper = _Stopper()
        with _signals_to(stopper.stop):
            outcomes = _run_batches(run, lines, jobs, stopper, log, progress)
        with contextlib.suppress(OSError):
            run.paths.scratch.rmdir()  # only when empty: a preflight may be using it
    if stopper.signum is not None:
        name = signal.Signals(stopper.signum).name
        done = sum(o.done for o in outcomes)
        raise Interrupted(
            stopper.signum,
            f"{run.paths.root}: stopped by {name}; {done:,} finished training(s) kept; "
            "run run-local again to continue",
        )
    return outcomes


def _run_batches(
    run: Run,
    lines: list[QueueLine],
    jobs: int,
    stopper: _Stopper,
    log: Callable[[str], None],
    progress: bool,
) -> list[BatchOutcome]:
    from tqdm import tqdm

    outcomes: list[BatchOutcome] = []
    failed = 0
    total = sum(len(line.configs) for line in lines)
    with (
        tqdm(total=total, unit="training", file=sys.stderr, disable=not progress) as bar,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        futures = {
            pool.submit(_batch_unless_stopped, run, line, i, stopper): line
            for i, line in enumerate(lines)
        }
        for future in as_completed(futures):
            outcome = future.result()
            if outcome is None:  # never started: a stop came first
                continue
            outcomes.append(outcome)
            failed += len(futures[future].configs) - outcome.done
            bar.update(len(futures[future].configs))
            if failed:
                bar.set_postfix(failed=failed, refresh=True)
            if outcome.returncode != 0 and stopper.signum is None:
                log(f"batch {outcome.batch_id}: exit code {outcome.returncode} (log {outcome.log})")
    return outcomes


@contextlib.contextmanager
def _only_run_local(run: Run) -> Iterator[None]:
    """Hold the run folder's run-local lock, or refuse: two run-locals would train the same
    pending trainings side by side."""
    path = run.paths.root / LOCK_FILE
    try:
        stream = open(path, "a+")  # noqa: SIM115 (held for the whole run)
    except OSError as err:
        raise DmsweepError(f"{path}: cannot create the run-local lock: {err.strerror}") from None
    with stream:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = stream.read().strip() or "unknown"
            raise DmsweepError(
                f"{run.paths.root}: another run-local is running on this run folder "
                f"(pid {holder}); wait for it to end or stop it first"
            ) from None
        stream.seek(0)
        stream.truncate()
        stream.write(f"{os.getpid()}\n")
        stream.flush()
        try:
            yield
        finally:
            fcntl.flock(stream, fcntl.LOCK_UN)


@contextlib.contextmanager
def _signals_to(handler: Callable[[int, object], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call `handler` (main thread only: elsewhere signals stay as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _remove_dead_scratch(run: Run) -> None:
    """Scratch folders of batches whose run-local or preflight died (killed, power loss): their
    temporary job folders are not results. A live process's folder is left alone."""
    if not run.paths.scratch.is_dir():
        return
    for entry in run.paths.scratch.iterdir():
        owner = entry.name.rsplit("-", 2)
        if len(owner) == 3 and owner[1].isdigit() and _alive(int(owner[1])):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _batch_unless_stopped(
    run: Run, line: QueueLine, number: int, stopper: _Stopper
) -> BatchOutcome | None:
    return None if stopper.signum is not None else run_batch(run, line, number, stopper=stopper)


def run_batch(
    run: Run,
    line: QueueLine,
    number: int = 0,
    *,
    preflight: bool = False,
    stopper: _Stopper | None = None,
) -> BatchOutcome:
    """Run one batch through run_job.sh in a fresh scratch folder; move its results in."""
    stopper = stopper or _Stopper()
    paths = run.paths
    scratch = paths.scratch / f"{line.batch_id}-{os.getpid()}-{number}"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    try:
        # a copy of code/ (small), never a link: nothing the job writes (bytecode, an
        # environment file's members) can change the code every later batch runs
        shutil.copytree(paths.root / runfiles.CODE, scratch / runfiles.CODE, symlinks=True)
        (scratch / runfiles.DATA).symlink_to(paths.root / runfiles.DATA)
        for rel in run.manifest.environment_for(line.req).files:
            (scratch / Path(rel).name).symlink_to((paths.root / rel).resolve())
        stem = f"{line.batch_id}.local"
        out_log, err_log = paths.logs / f"{stem}.out", paths.logs / f"{stem}.err"
        args = ["--preflight"] if preflight else []
        args += [line.batch_id, str(line.cpus), encode_configs(line.configs)]
        command, extra_env = dying_with_parent(["bash", str(paths.wrapper), *args])
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ} | extra_env
        if run.manifest.gpu_environment is not None:  # what the submit file's ENV_<req> says
            env["DMSWEEP_ENV"] = run.manifest.requirement_environments[line.req]
        with open(out_log, "w") as out, open(err_log, "w") as err:
            process = stopper.launch(command, scratch, env, out, err)
            code = stopper.wait(process) if process else 128 + (stopper.signum or 0)
        source = scratch / (runfiles.PREFLIGHT if preflight else runfiles.RESULTS)
        target = paths.preflight if preflight else paths.results
        done, failed = _collect(source, target, line.job_ids)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return BatchOutcome(line.batch_id, code, done, failed, err_log)


def _collect(source: Path, target: Path, job_ids: tuple[str, ...]) -> tuple[int, int]:
    """Move finished job folders from a scratch results/ into the run's; count them."""
    target.mkdir(exist_ok=True)
    done = failed = 0
    if not source.is_dir():
        return 0, 0
    for entry in sorted(source.iterdir()):
        if entry.name.startswith("."):
            continue
        dest = target / entry.name
        if entry.is_dir():
            if is_valid_result(dest, entry.name):
                continue  # never replace a valid result
            if dest.exists():
                shutil.rmtree(dest)  # an earlier failure's folder
            valid = is_valid_result(entry, entry.name)
            done += valid
            failed += not valid
        os.replace(entry, dest)
    return done, failed
