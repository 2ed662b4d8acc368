"""`run_builder run-local RUN -j N`: the run's own job wrapper, N batches at a time, no pool.

Each batch runs in a scratch folder (`RUN/.scratch/<batch>-<n>/`) set up the way HTCondor
sets up a job's: a copy of code/, links to data/ and the environment file, nothing of the
caller's Python environment. Its finished job folders are then moved into results/ (a
rename: the scratch folder is inside the run folder), so the outputs are exactly those of a
pool run. Only trainings without valid results run, so an interrupted run-local simply
continues.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from dmsweep.core import runfiles
from dmsweep.core.queuefile import QueueLine, encode_configs
from dmsweep.core.results import is_valid_result
from dmsweep.run_builder.run import Run

PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
"""The caller's environment variables a local job sees (a pool job sees none of them)."""


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: str
    returncode: int
    done: int
    failed: int
    log: Path


def run_local(
    run: Run,
    *,
    jobs: int = 1,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> list[BatchOutcome]:
    """Run every pending batch; returns one outcome per batch, in completion order."""
    lines = run.pending_lines()
    total = sum(len(line.configs) for line in lines)
    if not lines:
        log(f"{run.name}: every training has valid results; nothing to run")
        return []
    log(f"{run.name}: {total:,} trainings in {len(lines):,} jobs, {jobs} at a time")
    from tqdm import tqdm

    outcomes: list[BatchOutcome] = []
    failed = 0
    with (
        tqdm(total=total, unit="training", file=sys.stderr, disable=not progress) as bar,
        ThreadPoolExecutor(max_workers=max(1, jobs)) as pool,
    ):
        futures = {pool.submit(run_batch, run, line, i): line for i, line in enumerate(lines)}
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            failed += len(futures[future].configs) - outcome.done
            bar.update(len(futures[future].configs))
            if failed:
                bar.set_postfix(failed=failed, refresh=True)
            if outcome.returncode != 0:
                log(f"batch {outcome.batch_id}: exit code {outcome.returncode} (log {outcome.log})")
    with contextlib.suppress(OSError):
        run.paths.scratch.rmdir()  # only when empty: another run-local may be using it
    return outcomes


def run_batch(
    run: Run, line: QueueLine, number: int = 0, *, preflight: bool = False
) -> BatchOutcome:
    """Run one batch through run_job.sh in a fresh scratch folder; move its results in."""
    paths = run.paths
    scratch = paths.scratch / f"{line.batch_id}-{os.getpid()}-{number}"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    # a copy of code/ (small), never a link: nothing the job writes (bytecode, an environment
    # file's members) can change the code every later batch runs
    shutil.copytree(paths.root / runfiles.CODE, scratch / runfiles.CODE, symlinks=True)
    (scratch / runfiles.DATA).symlink_to(paths.root / runfiles.DATA)
    for rel in run.manifest.get("environment", {}).get("files", []):
        (scratch / Path(rel).name).symlink_to((paths.root / rel).resolve())
    stem = f"{line.batch_id}.local"
    out_log, err_log = paths.logs / f"{stem}.out", paths.logs / f"{stem}.err"
    args = ["--preflight"] if preflight else []
    args += [line.batch_id, str(line.cpus), encode_configs(line.configs)]
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    try:
        with open(out_log, "w") as out, open(err_log, "w") as err:
            code = subprocess.run(
                ["bash", str(paths.wrapper), *args], cwd=scratch, env=env, stdout=out, stderr=err
            ).returncode
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
