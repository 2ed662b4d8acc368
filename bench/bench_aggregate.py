"""Aggregation speed on 20,000 synthetic job folders, as whole commands, in one run.

    python bench/bench_aggregate.py                 # 20,000 folders in a temp dir
    python bench/bench_aggregate.py --n 2000 --rounds 1 --keep /tmp/agg-bench

Every figure is a whole command run as a subprocess (Python start-up and imports included),
measured in this run on the same folders with a warm page cache:
- baseline: `python bench/bench_aggregate.py --plain-loop RESULTS`, a plain loop that
  json.loads each folder's config.json and metrics.json and builds one pandas table (no
  failure detection, nothing written), and the same loop over every file aggregate reads
  (config, metrics, provenance, manifest);
- first `aggregate RESULTS -o OUT --no-plots --no-report` (no cache: read, judge every folder
  by the one valid-result definition, CSV, Parquet, cache). Goal: at most 2x the baseline;
- incremental `aggregate --no-plots --no-report` after 100 new folders. Goal: under 1 s;
  printed beside: the same with plots and report, and the command's own phase times
  (`time:` line) and the start-up (Python + imports) measured alone, so the part of the
  1 s that is import time is visible.
The folders are in the job contract's format (docs/job-contract.md, manifest.json last), with
1 % failed, 0.1 % corrupt, 0.1 % diverged and 0.1 % still running.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def run(command: list[str]) -> tuple[float, str]:
    """(seconds, stdout) of a whole command; fails loudly when the command fails."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds, done.stdout


def phases(stdout: str) -> str:
    """The `time:` line the aggregate command prints (its own phases)."""
    return next((line for line in stdout.splitlines() if line.startswith("time:")), "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="job folders (default 20000)")
    parser.add_argument("--new", type=int, default=100, help="folders added before the rerun")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/first-run repetitions")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the folders here, keep them")
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
    aggregate = [str(Path(python).with_name("aggregate")), str(results), "-o", str(out)]
    tables_only = [*aggregate, "--no-plots", "--no-report", "--no-progress"]
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

        base, base_all, first = [], [], []
        stdout = ""
        for _ in range(args.rounds):  # interleaved, so that load from elsewhere hits all
            base.append(run(loop)[0])
            base_all.append(run([*loop, "--all-files"])[0])
            shutil.rmtree(out, ignore_errors=True)
            seconds, stdout = run([*tables_only, "--jobs", "1"])
            first.append(seconds)
        print(f"commands: {' '.join(loop)} [--all-files] | {' '.join(tables_only)} --jobs 1")
        print(f"baseline plain loop, config+metrics -> one table: {_stats(base)}")
        print(f"baseline plain loop, config+metrics+provenance+manifest: {_stats(base_all)}")
        print(
            f"first aggregate --no-plots --no-report (no cache), whole command: {_stats(first)}"
            f"  ratio {min(first) / min(base):.2f}x (goal <= 2x); against the loop over every "
            f"file it reads {min(first) / min(base_all):.2f}x"
        )
        print(f"  its {phases(stdout)}")

        rng = np.random.default_rng(1)
        for flat in new_configs:
            write_job_folder(results, flat, rng=rng, n_predictions=50)
        seconds, stdout = run(tables_only)
        print(
            f"incremental aggregate --no-plots --no-report after {args.new} new folders, whole "
            f"command: {seconds:.2f} s (goal < 1 s); its {phases(stdout)}"
        )
        startup, _ = run([python, "-c", "import dmsweep.aggregate.cli"])
        bare, _ = run([python, "-c", "pass"])
        print(
            f"  of which start-up: Python {bare:.2f} s, + imports of the aggregate command "
            f"{startup - bare:.2f} s"
        )
        seconds, stdout = run(tables_only)
        print(f"unchanged rerun --no-plots --no-report, whole command: {seconds:.2f} s")
        seconds, stdout = run([*aggregate, "--no-progress"])
        print(f"rerun with plots and report, whole command: {seconds:.1f} s; its {phases(stdout)}")
        for flat in more_configs:
            write_job_folder(results, flat, rng=rng, n_predictions=50)
        seconds, stdout = run([*aggregate, "--no-progress"])
        print(
            f"incremental with plots and report after {args.new} more folders, whole command: "
            f"{seconds:.1f} s; its {phases(stdout)}"
        )
        print(f"output: {out}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _stats(values: list[float]) -> str:
    return f"best {min(values):.2f} s, median {float(np.median(values)):.2f} s"


if __name__ == "__main__":
    sys.exit(main())
