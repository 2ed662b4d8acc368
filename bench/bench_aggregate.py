"""Aggregation speed on 20,000 synthetic job folders, as whole commands, in one run.

    python bench/bench_aggregate.py                 # 20,000 folders in a temp dir
    python bench/bench_aggregate.py --n 2000 --rounds 1 --keep /tmp/agg-bench
    python bench/bench_aggregate.py --before /work/main/.venv/bin --tables-only   # before/after

Every figure is a whole command run as a subprocess (Python start-up and imports included),
measured in this run on the same folders with a warm page cache:
- baseline: `python bench/bench_aggregate.py --plain-loop RESULTS`, a plain loop that
  json.loads each folder's config.json and metrics.json and builds one pandas table (no
  failure detection, nothing written), and the same loop over every file aggregate reads
  (config, metrics, provenance, manifest);
- first `aggregate RESULTS -o OUT --no-plots --no-report` (no cache: read, judge every folder
  by the one valid-result definition, CSV, Parquet, cache), with the worker processes its
  default starts where the load leaves a CPU idle (`--jobs` the CPUs, at least 2, at most 8:
  explicit, since this benchmark's own commands keep one CPU busy) and with `--jobs 1`.
  Goal: at most 2x the baseline;
- incremental `aggregate --no-plots --no-report` after 100 new folders. Goal: under 1 s;
  printed beside: the same with plots and report, and the command's own phase times
  (`time:` line) and the start-up (Python + imports) measured alone, so the part of the
  1 s that is import time is visible;
- an unchanged rerun (nothing new since the incremental one): no goal, printed beside;
- with `--before BIN` (the bin folder of another install, e.g. the main branch's .venv/bin):
  that install's first aggregate beside this one's; its incremental aggregate and this
  one's, interleaved, each from the same copy of the output folder taken before the 100 new
  folders were written; its unchanged rerun and this one's, interleaved, each from a copy of
  the output folder that this one's incremental run left; and the ratios. This checkout's
  commands run with PYTHONPATH=<this checkout>/src, the other install's with
  PYTHONPATH=`--before-src` (default: none, so that it imports its own dmsweep): an
  exported PYTHONPATH would make both import the same code. Which dmsweep each side
  imports is printed.
Each figure is wall time with the command's CPU time (user + system, from the child's
rusage) beside it, and the load average is printed: on a shared machine the wall time moves
with the load, the CPU time much less, so compare ratios within one run.
The folders are in the job contract's format (docs/job-contract.md, manifest.json last), with
1 % failed, 0.1 % corrupt, 0.1 % diverged and 0.1 % still running.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve()


def plain_loop(results: Path, files: tuple[str, ...]) -> int:
    """The baseline: the given JSON files of every folder into one table; returns rows."""
    import pandas as pd

    rows = []
    for name in os.listdir(results):
        if name.startswith("."):
            continue
        folder = results / name
        try:
            with open(folder / files[0]) as fh:
                row = json.load(fh)
            with open(folder / files[1]) as fh:
                metrics = json.load(fh)
            for extra in files[2:]:
                with open(folder / extra) as fh:
                    json.load(fh)
        except (OSError, ValueError):
            continue
        for split, values in metrics.get("splits", {}).items():
            for key, value in values.items():
                row[f"{split}_{key}"] = value
        rows.append(row)
    return len(pd.DataFrame(rows))


class Timed(NamedTuple):
    wall: float
    cpu: float
    """User + system seconds of the command (its children included)."""
    stdout: str

    def __str__(self) -> str:
        return f"{self.wall:.2f} s ({self.cpu:.2f} s cpu)"


class Side(NamedTuple):
    """How to run one install's commands: its aggregate script and its environment."""

    aggregate: str
    env: dict[str, str]

    def command(self, tail: list[str]) -> list[str]:
        return [self.aggregate, *tail]

    def __str__(self) -> str:
        return f"{self.aggregate}, PYTHONPATH={self.env.get('PYTHONPATH', '')}"


def side(aggregate: Path, src: Path | None) -> Side:
    """The commands of an install, importing dmsweep from `src` (None: its own)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return Side(str(aggregate), env)


def imported_from(python: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(python), "-c", "import dmsweep; print(dmsweep.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout.strip()


def run(command: list[str], env: dict[str, str] | None = None) -> Timed:
    """Wall and CPU time and stdout of a whole command; fails loudly when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Timed(seconds, cpu, done.stdout)


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def phases(stdout: str) -> str:
    """The `time:` line the aggregate command prints (its own phases)."""
    return next((line for line in stdout.splitlines() if line.startswith("time:")), "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="job folders (default 20000)")
    parser.add_argument("--new", type=int, default=100, help="folders added before the rerun")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/first-run repetitions")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the folders here, keep them")
    parser.add_argument(
        "--before",
        type=Path,
        metavar="BIN",
        help="bin folder of another install whose incremental aggregate is timed beside this one",
    )
    parser.add_argument(
        "--before-src",
        type=Path,
        metavar="DIR",
        help="PYTHONPATH of the --before install's commands (default: none)",
    )
    parser.add_argument(
        "--tables-only", action="store_true", help="skip the two runs with plots and report"
    )
    parser.add_argument("--plain-loop", type=Path, metavar="RESULTS", help=argparse.SUPPRESS)
    parser.add_argument("--all-files", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_loop:  # the baseline command itself
        from dmsweep import jobfiles

        files = (jobfiles.CONFIG, jobfiles.METRICS)
        if args.all_files:
            files += (jobfiles.PROVENANCE, jobfiles.MANIFEST)
        print(plain_loop(args.plain_loop, files))
        return 0

    from dmsweep.aggregate.synthetic import make_results, synthetic_configs, write_job_folder

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-aggregate-"))
    results, out = root / "results", root / "summary"
    python = sys.executable
    after = side(Path(python).with_name("aggregate"), HERE.parents[1] / "src")
    before = side(args.before / "aggregate", args.before_src) if args.before else None
    tail = [str(results), "-o", str(out)]

    def tables_to(folder: Path) -> list[str]:
        return [str(results), "-o", str(folder), "--no-plots", "--no-report", "--no-progress"]

    tables_tail = tables_to(out)
    aggregate, tables_only = after.command(tail), after.command(tables_tail)
    try:
        if not results.is_dir():
            faults = {
                "failed": args.n // 100,
                "corrupt": args.n // 1000,
                "diverged": args.n // 1000,
                "running": args.n // 1000,
            }
            start = time.perf_counter()
            make_results(results, args.n, faults=faults, rng_seed=0, n_predictions=50)
            print(f"made {args.n} job folders in {results} ({time.perf_counter() - start:.0f} s)")
        new_configs = synthetic_configs(args.new, seeds=(1000,), rng_seed=99)
        more_configs = synthetic_configs(args.new, seeds=(1001,), rng_seed=98)
        for flat in new_configs + more_configs:  # left by an earlier run with --keep
            shutil.rmtree(results / flat["job_id"], ignore_errors=True)
        loop = [python, str(HERE), "--plain-loop", str(results)]
        run(loop)  # warm the page cache

        print(f"this checkout's aggregate imports {imported_from(Path(python), after.env)}")
        if before is not None:
            other = imported_from(args.before / "python", before.env)
            print(f"the --before install's aggregate imports {other}")
        print(load())
        idle_default = min(max(2, len(os.sched_getaffinity(0))), 8)
        base, base_all, first, first_alone, first_before = [], [], [], [], []
        stdout = ""
        for _ in range(args.rounds):  # interleaved, so that load from elsewhere hits all
            base.append(run(loop))
            base_all.append(run([*loop, "--all-files"]))
            if before is not None:
                shutil.rmtree(out, ignore_errors=True)
                first_before.append(run(before.command(tables_tail), before.env))
            shutil.rmtree(out, ignore_errors=True)
            first_alone.append(run([*tables_only, "--jobs", "1"], after.env))
            shutil.rmtree(out, ignore_errors=True)
            first.append(run([*tables_only, "--jobs", str(idle_default)], after.env))
            stdout = first[-1].stdout
        print(
            f"commands: {' '.join(loop)} [--all-files] | {' '.join(tables_only)} --jobs "
            f"{idle_default} (the default where the load leaves a CPU idle) | --jobs 1"
        )
        print(f"baseline plain loop, config+metrics -> one table: {_stats(base)}")
        print(f"baseline plain loop, config+metrics+provenance+manifest: {_stats(base_all)}")
        print(
            f"first aggregate --no-plots --no-report (no cache), whole command: {_stats(first)}"
            f"  ratio {_ratio(first, base)} (goal <= 2x); against the loop over every file it "
            f"reads {_ratio(first, base_all)}"
        )
        print(f"  its {phases(stdout)}; {load()}")
        print(
            f"  the same with --jobs 1 (one process, whatever the load): {_stats(first_alone)}"
            f"  ratio {_ratio(first_alone, base)}"
        )
        if before is not None:
            print(
                f"  the same by {before.aggregate}: {_stats(first_before)}  ratio "
                f"{_ratio(first_before, base)}"
            )

        snapshot = root / "summary-before-new"
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(out, snapshot)
        rng = np.random.default_rng(1)
        for flat in new_configs:
            write_job_folder(results, flat, rng=rng, n_predictions=50)
        timed = run(tables_only, after.env)
        print(
            f"incremental aggregate --no-plots --no-report after {args.new} new folders, whole "
            f"command: {timed} (goal < 1 s); its {phases(timed.stdout)}; {load()}"
        )
        bare = run([python, "-c", "pass"], after.env)
        startup = run([python, "-c", "import dmsweep.aggregate.cli"], after.env)
        full = run(
            [python, "-c", "import dmsweep.aggregate.cli, dmsweep.aggregate.pipeline"], after.env
        )
        print(
            f"  of which start-up: Python {bare}, + imports of the aggregate command "
            f"{startup.wall - bare.wall:.2f} s ({startup.cpu - bare.cpu:.2f} s cpu), + those "
            f"of its full path (pandas) {full.wall - bare.wall:.2f} s "
            f"({full.cpu - bare.cpu:.2f} s cpu)"
        )
        sides = {"before": before, "after": after} if before is not None else {}
        if sides:
            print("  incremental, interleaved:")
            _before_and_after(sides, tables_to, lambda _: _copy_of(snapshot, out), args.rounds)
        timed = run(tables_only, after.env)
        print(f"unchanged rerun --no-plots --no-report, whole command: {timed}")
        if sides:
            # this checkout's runs start from `out` as its incremental run left it, the other
            # install's from a copy of it each time
            other = root / "summary-before"
            print("  unchanged rerun, interleaved:")
            _before_and_after(
                sides,
                tables_to,
                lambda name: _copy_of(out, other) if name == "before" else out,
                args.rounds,
            )
        if not args.tables_only:
            timed = run([*aggregate, "--no-progress"], after.env)
            print(
                f"rerun with plots and report, whole command: {timed}; its {phases(timed.stdout)}"
            )
            for flat in more_configs:
                write_job_folder(results, flat, rng=rng, n_predictions=50)
            timed = run([*aggregate, "--no-progress"], after.env)
            print(
                f"incremental with plots and report after {args.new} more folders, whole "
                f"command: {timed}; its {phases(timed.stdout)}"
            )
        print(load())
        print(f"output: {out}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _before_and_after(
    sides: dict[str, Side],
    tail: Callable[[Path], list[str]],
    outs: Callable[[str], Path],
    rounds: int,
) -> None:
    """The same aggregate command by two installs, interleaved; `outs(name)` prepares and
    names the output folder each run starts from."""
    times: dict[str, list[Timed]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, install in sides.items():
            times[name].append(run(install.command(tail(outs(name))), install.env))
    for name, install in sides.items():
        print(f"  {name} ({install}): {_stats(times[name])}")
    print(f"  after / before: {_ratio(times['after'], times['before'])}; {load()}")


def _copy_of(snapshot: Path, out: Path) -> Path:
    """`out` as `snapshot` was, as a fresh copy."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(snapshot, out)
    return out


def _stats(values: list[Timed]) -> str:
    walls, cpus = [t.wall for t in values], [t.cpu for t in values]
    return (
        f"best {min(walls):.2f} s ({min(cpus):.2f} s cpu), median {float(np.median(walls)):.2f} s "
        f"({float(np.median(cpus)):.2f} s cpu)"
    )


def _ratio(values: list[Timed], baseline: list[Timed]) -> str:
    """Best against best, of wall and of CPU time."""
    wall = min(t.wall for t in values) / min(t.wall for t in baseline)
    cpu = min(t.cpu for t in values) / min(t.cpu for t in baseline)
    return f"{wall:.2f}x ({cpu:.2f}x in cpu)"


if __name__ == "__main__":
    sys.exit(main())
