"""What a caller passes to a sequence of trainings and gets back, and the job runner that keeps
a batch going when a training kills its process (no TensorFlow here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmsweep.jobfiles import CONFIG, ERROR, HISTORY, PROVENANCE, SPLIT, TMP_PREFIX


@dataclass(frozen=True)
class RunOptions:
    """How to run a sequence of trainings in one process.

    `output_root`: job folders are written to `<output_root>/<job_id>/`.
    `data_dir`: a local copy of the data (else $DMSWEEP_DATA_DIR, else the download cache).
    `threads`: TensorFlow intra/inter-op threads; None follows what the job was granted
    (HTCondor's RequestCpus / OMP_NUM_THREADS) or TensorFlow's own default outside a batch job.
    `force`: retrain a config whose folder already holds valid results.
    `verbose`: print a line per epoch.
    `gpus`: GPUs the trainings were granted; None reads the HTCondor job ad (RequestGPUs).
    A training granted GPUs that TensorFlow cannot see fails (error.json) unless
    `allow_cpu_fallback`; then it trains on the CPU and provenance.json says so.
    """

    output_root: Path = Path("results")
    data_dir: Path | None = None
    threads: int | None = None
    force: bool = False
    verbose: bool = True
    gpus: int | None = None
    allow_cpu_fallback: bool = False


@dataclass(frozen=True)
class JobOutcome:
    """One training's result: its folder, whether it succeeded, and the error line if not.

    `skipped` is True when the folder already held valid results and nothing was trained;
    `data_error` when it failed on its data (a missing or corrupt file: exit status 2).
    """

    job_id: str
    path: Path
    ok: bool
    error: str | None = None
    skipped: bool = False
    data_error: bool = False


# ------------------------------------------------------------------ a batch that survives crashes

CRASH_TYPE = "ProcessCrash"
"""error.json `type` of a training whose process died (signal, abort, out-of-memory kill)."""
STDERR_TAIL_LINES = 20
FAULT_ENV = "DMSWEEP_TEST_FAULT"
"""Test-only fault injection: `<job_id>=abort|segfault|kill` makes the training of that job
kill its own process (see `inject_fault`); never set it outside tests."""
_TMP_JOB = re.compile(r"^\.tmp-(?P<job>[a-z]+-[0-9a-f]{12})-")
_NORMAL_EXITS = (0, 1, 2)
"""`dmsweep train`'s own exit statuses; anything else means the process did not end itself."""


@dataclass(frozen=True)
class Crash:
    """One training process that died: how, and what it last said."""

    job_id: str | None
    returncode: int
    stderr_tail: str

    @property
    def signal_name(self) -> str | None:
        number = -self.returncode if self.returncode < 0 else self.returncode - 128
        if 0 < number < 65:
            try:
                return signal.Signals(number).name
            except ValueError:
                return f"signal {number}"
        return None

    def message(self) -> str:
        how = (
            f"killed by {self.signal_name} (exit code {self.returncode})"
            if self.signal_name
            else f"ended with exit code {self.returncode}"
        )
        hint = " (SIGKILL: often the out-of-memory killer)" if self.signal_name == "SIGKILL" else ""
        return f"the training process was {how}{hint}; the batch went on in a new process"


def run_batch_surviving_crashes(
    configs_file: Path, output_root: Path, train_args: Sequence[str]
) -> int:
    """Train every config of `configs_file` (JSON lines) with `dmsweep train`, in one process
    while nothing crashes (one TensorFlow start-up per job). When that process dies (abort,
    segfault, out-of-memory kill), the training it was running gets an error.json written
    here (signal, exit code, stderr tail) and the trainings not yet run go on in a new process.
    Returns `dmsweep train`'s exit status (1 when a training failed or crashed); a SIGTERM or
    SIGINT to this process is passed on to the training and ends the batch (128 + signal)."""
    todo = [json.loads(line) for line in configs_file.read_text().splitlines() if line.strip()]
    stop: list[int] = []
    child: list[subprocess.Popen[str]] = []

    def forward(signum: int, frame: object) -> None:
        stop.append(signum)
        if child and child[-1].poll() is None:
            child[-1].send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    status = 0
    work = configs_file.with_name(f"{configs_file.stem}.todo.jsonl")
    while todo:
        work.write_text("".join(json.dumps(c) + "\n" for c in todo))
        command = [sys.executable, "-m", "dmsweep.cli", "train", "--config", str(work)]
        returncode, tail = _run_streaming([*command, "-o", str(output_root), *train_args], child)
        if stop:
            return 128 + stop[0]
        if returncode in _NORMAL_EXITS:
            return max(status, returncode)
        crash = Crash(_crashed_job(output_root, todo), returncode, tail)
        if crash.job_id is None:  # nothing to blame, nothing left: do not loop
            print(f"dmsweep-batch: {crash.message()}; no training left to run", file=sys.stderr)
            return max(status, 1)
        record_crash(output_root, next(c for c in todo if c["job_id"] == crash.job_id), crash)
        done = _published(output_root)
        todo = [c for c in todo if c["job_id"] not in done]
        status = 1
        print(
            f"dmsweep-batch: {crash.job_id}: {crash.message()}; {len(todo)} trainings left",
            file=sys.stderr,
            flush=True,
        )
    work.unlink(missing_ok=True)
    return status


def _run_streaming(command: list[str], child: list[subprocess.Popen[str]]) -> tuple[int, str]:
    """Run `command`, passing its stderr on line by line; (return code, last stderr lines)."""
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    # faulthandler: a segfault or abort prints the Python stack, which error.json then holds
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, errors="replace", env=env
    )
    child.append(process)
    assert process.stderr is not None
    for line in process.stderr:
        sys.stderr.write(line)
        sys.stderr.flush()
        tail.append(line.rstrip("\n"))
    return process.wait(), "\n".join(tail)


def _published(output_root: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(output_root) if not e.name.startswith(".")}
    except FileNotFoundError:
        return set()


def _crashed_job(output_root: Path, todo: Sequence[Mapping[str, Any]]) -> str | None:
    """The training that was running: the one with a temporary folder, else the first one of
    `todo` without a published folder (it crashed before its folder was made)."""
    wanted = {c["job_id"] for c in todo}
    for entry in sorted(_temporary(output_root)):
        match = _TMP_JOB.match(entry.name)
        if match and match["job"] in wanted:
            return match["job"]
    done = _published(output_root)
    return next((c["job_id"] for c in todo if c["job_id"] not in done), None)


def _temporary(output_root: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(output_root) if e.name.startswith(TMP_PREFIX)]
    except FileNotFoundError:
        return []


def record_crash(output_root: Path, flat: Mapping[str, Any], crash: Crash) -> Path:
    """Publish the crashed training's folder: what it had written (config, provenance, split,
    history so far; never metrics) plus an error.json saying how the process died."""
    from dmsweep.train.outputs import JobFolder
    from dmsweep.train.provenance import now

    job_id = str(flat["job_id"])
    leftovers = [
        p for p in _temporary(output_root) if (m := _TMP_JOB.match(p.name)) and m["job"] == job_id
    ]
    folder = JobFolder(output_root, job_id)
    for old in leftovers:
        for name in (CONFIG, PROVENANCE, SPLIT, HISTORY):
            if (old / name).is_file():
                os.replace(old / name, folder.path(name))
        shutil.rmtree(old, ignore_errors=True)
    if not folder.path(CONFIG).is_file():
        folder.write_config({k: v for k, v in flat.items() if k != "job_id"})
    folder.write_json(
        ERROR,
        {
            "job_id": job_id,
            "type": CRASH_TYPE,
            "message": crash.message(),
            "phase": "unknown",
            "traceback_tail": crash.stderr_tail,
            "time": now(),
            "exit_code": crash.returncode,
            "signal": crash.signal_name,
            "stderr_tail": crash.stderr_tail,
        },
    )
    try:
        return folder.publish()
    finally:
        folder.discard()


def inject_fault(job_id: str) -> None:
    """Test-only: kill this process the way `$DMSWEEP_TEST_FAULT` asks for `job_id`."""
    wanted = dict(
        item.split("=", 1) for item in os.environ.get(FAULT_ENV, "").split(",") if "=" in item
    )
    fault = wanted.get(job_id)
    if fault == "abort":
        os.abort()
    elif fault == "segfault":
        import ctypes

        ctypes.string_at(0)
    elif fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
