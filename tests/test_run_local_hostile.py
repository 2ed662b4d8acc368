"""run-local under stress: bad -j, a second copy, Ctrl-C, SIGKILL, leftovers of a killed run.

Whatever happens to run-local, finished results stay, no job process outlives it, and the next
run-local continues where it stopped.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_specs import write_spec

from dmsweep.core.results import is_valid_result
from dmsweep.errors import DmsweepError
from dmsweep.run_builder.cli import main
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.local import LOCK_FILE, run_local
from dmsweep.run_builder.run import Run

QUICK = {"split": "random", "max_variants": 2000, "max_epochs": 2, "patience": 2}
LONG = {"split": "random", "max_variants": 5000, "max_epochs": 1000, "patience": 1000}
"""A training that runs for minutes unless stopped (linear, 1,000 epochs)."""


def _build(tmp_path: Path, data_dir: Path, *models: dict[str, object]) -> Path:
    spec = write_spec(
        tmp_path / "spec.yaml",
        fixed={"learning_rate": 1.0e-3, "batch_size": 64},
        models={"linear": [{"fixed": m} for m in models]},
        replicates={"seed": [1]},
        trainings_per_job=1,
    )
    return build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="r"))


def _start_run_local(root: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "dmsweep.run_builder.cli", "run-local", str(root)]
    return subprocess.Popen(
        [*command, "--no-progress", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _processes_in(root: Path) -> list[int]:
    """Processes (other than this one) whose command line names the run folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(root) in cmdline and "run-local" not in cmdline:
            found.append(int(entry.name))
    return found


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)


def _training_runs(root: Path) -> bool:
    return any("dmsweep.cli train" in _cmdline(pid) for pid in _processes_in(root))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _valid(root: Path) -> list[str]:
    results = root / "results"
    return (
        [p.name for p in results.iterdir() if is_valid_result(p, p.name)]
        if results.is_dir()
        else []
    )


def test_fewer_than_one_job_at_a_time_is_refused(tmp_path, data_dir, capsys) -> None:
    root = _build(tmp_path, data_dir, QUICK)
    for bad in ("0", "-3"):
        with pytest.raises(SystemExit) as exit_:
            main(["run-local", str(root), "-j", bad])
        assert exit_.value.code == 2
        assert f"expected an integer >= 1, got {int(bad)}" in capsys.readouterr().err
    with pytest.raises(DmsweepError, match="expected an integer >= 1, got 0"):
        run_local(Run.open(root), jobs=0)
    assert not (root / "results").exists() or not any((root / "results").iterdir())


def test_a_second_run_local_on_one_run_folder_is_refused(tmp_path, data_dir, capsys) -> None:
    root = _build(tmp_path, data_dir, QUICK)
    capsys.readouterr()
    with open(root / LOCK_FILE, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        assert main(["run-local", str(root), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "another run-local is running on this run folder (pid 4242)" in err
    assert _valid(root) == []


@pytest.mark.slow
def test_ctrl_c_keeps_what_finished_and_the_rerun_continues(tmp_path, data_dir) -> None:
    root = _build(tmp_path, data_dir, QUICK, LONG)
    process = _start_run_local(root, "-j", "2")
    _wait_for(lambda: len(_valid(root)) == 1, 300, "the quick training to finish")
    _wait_for(lambda: _training_runs(root), 120, "the long training to run")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "stopped by SIGINT; 1 finished training(s) kept; run run-local again" in err
    assert "Traceback" not in err
    _wait_for(lambda: not _processes_in(root), 30, "the stopped batch's processes to end")
    assert not (root / ".scratch").exists() or not any((root / ".scratch").iterdir())
    (kept,) = _valid(root)

    # a rerun: the dead run-local's leftovers go, a live process's scratch stays, the finished
    # training is not run again, the stopped one is
    dead = root / ".scratch" / "b00000-999999999-0"
    live = root / ".scratch" / f"b00000-{os.getpid()}-0"
    for folder in (dead, live):
        (folder / "results" / ".tmp-x").mkdir(parents=True)
    run = Run.open(root)
    lines = run.pending_lines()
    assert len(lines) == 1 and kept not in lines[0].job_ids
    stopper = _start_run_local(root)
    _wait_for(lambda: _training_runs(root), 120, "the rerun's training to start")
    assert not dead.exists() and live.is_dir()
    stopper.send_signal(signal.SIGTERM)
    _, err = stopper.communicate(timeout=60)
    assert stopper.returncode == 143, err
    assert "1 trainings in 1 jobs" in err  # only the stopped one runs again
    assert "stopped by SIGTERM" in err


@pytest.mark.slow
def test_a_killed_run_local_takes_its_jobs_with_it(tmp_path, data_dir) -> None:
    root = _build(tmp_path, data_dir, LONG)
    process = _start_run_local(root)
    _wait_for(lambda: _training_runs(root), 120, "the training to run")
    process.kill()  # SIGKILL: no handler runs
    process.communicate(timeout=30)
    _wait_for(lambda: not _processes_in(root), 30, "the orphaned job processes to die")
    assert _valid(root) == []
    # the next run-local is not refused: the dead one's lock went with its process
    again = _start_run_local(root)
    _wait_for(lambda: _training_runs(root), 120, "the rerun's training to start")
    again.send_signal(signal.SIGINT)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 130, err
