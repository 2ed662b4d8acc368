"""Aggregation speed on 20,000 synthetic job folders, against a plain loop, in one run.

    .venv/bin/python bench/bench_aggregate.py            # 20,000 folders in a temp dir
    .venv/bin/python bench/bench_aggregate.py --n 2000 --keep /tmp/agg-bench

Prints, all measured in this process on the same folders with a warm page cache:
- baseline: a plain loop that json.loads each folder's config.json and metrics.json and
  builds one pandas table (no failure detection, no provenance, nothing written);
- first `aggregate` (no cache): read + classify every folder, summary/failures/best CSVs,
  Parquet, the cache (goal: at most 2x the baseline), in one process (`--jobs 1`, the
  default below 4 CPUs) and with one worker process per CPU;
- incremental `aggregate` after 100 new folders (goal: under 1 s), and the same as a
  command line (`aggregate RESULTS --no-plots --no-report`, Python start-up included);
- plots and report (a separate phase: the goals above exclude it).
The folders are in the job contract's format (docs/job-contract.md), with 1 % failed,
0.1 % corrupt, 0.1 % diverged and 0.1 % still running.
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
import pandas as pd

from dmsweep import jobfiles
from dmsweep.aggregate import aggregate
from dmsweep.aggregate.synthetic import make_results, synthetic_configs, write_job_folder


def plain_loop(results: Path) -> pd.DataFrame:
    """The baseline: config.json + metrics.json of every folder into one table."""
    rows = []
    for name in os.listdir(results):
        if name.startswith("."):
            continue
        folder = results / name
        try:
            with open(folder / jobfiles.CONFIG) as fh:
                row = json.load(fh)
            with open(folder / jobfiles.METRICS) as fh:
                metrics = json.load(fh)
        except (OSError, ValueError):
            continue
        for split, values in metrics.get("splits", {}).items():
            for key, value in values.items():
                row[f"{split}_{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="job folders (default 20000)")
    parser.add_argument("--new", type=int, default=100, help="folders added before the rerun")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/first-run repetitions")
    parser.add_argument("--keep", type=Path, help="build (or reuse) the folders here, keep them")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-aggregate-"))
    results, out = root / "results", root / "summary"
    try:
        if not results.is_dir():
            faults = {
                "failed": args.n // 100,
                "corrupt": args.n // 1000,
                "diverged": args.n // 1000,
                "running": args.n // 1000,
            }
            seconds, _ = timed(
                make_results, results, args.n, faults=faults, rng_seed=0, n_predictions=50
            )
            print(f"made {args.n} job folders in {results} ({seconds:.0f} s)")
        new_configs = synthetic_configs(args.new, seeds=(1000,), rng_seed=99)
        for flat in new_configs:  # left by an earlier run with --keep
            shutil.rmtree(results / flat["job_id"], ignore_errors=True)
        plain_loop(results)  # warm the page cache

        base, first, alone = [], [], []
        for _ in range(args.rounds):  # interleaved, so that load from elsewhere hits all three
            seconds, table = timed(plain_loop, results)
            base.append(seconds)
            shutil.rmtree(out, ignore_errors=True)
            seconds, single = timed(aggregate, results, out, plots=False, report=False, workers=1)
            alone.append(seconds)
            shutil.rmtree(out, ignore_errors=True)
            seconds, result = timed(
                aggregate, results, out, plots=False, report=False, workers=os.cpu_count()
            )
            first.append(seconds)
        print(
            f"baseline plain loop (config+metrics -> one table): {_stats(base)} ({len(table)} rows)"
        )
        print(
            f"first aggregate, no cache (read, classify, CSV+Parquet, cache), one process: "
            f"{_stats(alone)}  ratio {min(alone) / min(base):.2f}x (goal <= 2x)"
        )
        print(f"  phases of the last one: {_phases(single.seconds)}")
        print(
            f"first aggregate, {os.cpu_count()} worker processes (-j {os.cpu_count()}): "
            f"{_stats(first)}  "
            f"ratio {min(first) / min(base):.2f}x"
        )
        print(f"  phases of the last one: {_phases(result.seconds)}")
        print(f"  {result.completeness}")

        rng = np.random.default_rng(1)
        for flat in new_configs:
            write_job_folder(results, flat, rng=rng, n_predictions=50)
        seconds, result = timed(aggregate, results, out, plots=False, report=False)
        print(
            f"incremental aggregate after {args.new} new folders: {seconds:.2f} s "
            f"(goal < 1 s; read {result.n_read}, cached {result.n_cached}; "
            f"{_phases(result.seconds)})"
        )
        command = [str(Path(sys.executable).with_name("aggregate")), str(results), "-o", str(out)]
        start = time.perf_counter()
        subprocess.run([*command, "--no-plots", "--no-report"], check=True, capture_output=True)
        print(
            f"  unchanged rerun as a command (Python start-up and imports included): "
            f"{time.perf_counter() - start:.2f} s"
        )

        seconds, result = timed(aggregate, results, out)
        plots = result.seconds.get("plots", 0.0)
        n_plots = sum(f.suffix == ".png" for f in result.files)
        print(
            f"plots ({n_plots} figures, PNG + SVG): {plots:.1f} s; report: "
            f"{result.seconds.get('report', 0.0):.1f} s; whole run with plots: {seconds:.1f} s"
        )
        print(f"output: {out}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _stats(values: list[float]) -> str:
    return f"best {min(values):.2f} s, median {float(np.median(values)):.2f} s"


def _phases(seconds: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items() if k != "total")


if __name__ == "__main__":
    sys.exit(main())
