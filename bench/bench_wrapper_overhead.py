"""Fixed per-job overhead of the job wrapper before training starts, per environment strategy.

For each strategy this builds a one-training run folder (environments come from the cache:
built once, the first time), runs the wrapper's --preflight mode in a scratch folder exactly
as `run_builder run-local` does, and reads its timing lines:

- setup_env: unpack the tarball / install the wheelhouse with the node's python3.X / nothing
- imports:   the preflight list (environments.JOB_IMPORTS: dmsweep._tf, tensorflow, tf_keras, ...)
- load_data: the avGFP table, the split and the encoding table

The in-run baseline is `shared` (this machine's venv in place: nothing to unpack). HTCondor's
own file transfer of the environment file comes on top on a real pool.

    .venv/bin/python bench/bench_wrapper_overhead.py [--strategies shared tarball wheelhouse]
        [--repeat 2] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.local import run_batch
from dmsweep.run_builder.run import Run

PHASES = ("setup_env", "imports", "load_data")
TIMING = re.compile(r"^dmsweep-timing (\w+) (\d+) ms$", re.M)
SPEC = {
    "name": "overhead",
    "dataset": "avgfp",
    "fixed": {"split": "random", "max_variants": 2000, "max_epochs": 1, "seed": 1},
    "models": {"linear": {}},
    "resources": {"default": {"cpus": 1, "memory_mb": 3000, "disk_mb": 8000}},
    "trainings_per_job": 1,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", nargs="+", default=["shared", "tarball", "wheelhouse"])
    parser.add_argument("--repeat", type=int, default=1, help="wrapper runs per strategy")
    parser.add_argument("--data-dir", type=Path, default=_default_data_dir())
    args = parser.parse_args()

    rows = {}
    with tempfile.TemporaryDirectory(prefix="dmsweep-overhead-") as tmp:
        for strategy in args.strategies:
            spec = Path(tmp) / f"{strategy}.yaml"
            spec.write_text(yaml.safe_dump({**SPEC, "environment": {"strategy": strategy}}))
            started = time.perf_counter()
            run = Run.open(
                build_run(
                    spec,
                    BuildOptions(runs_dir=Path(tmp), data_dir=args.data_dir, name=strategy),
                )
            )
            built = time.perf_counter() - started
            runs = [_one(run) for _ in range(args.repeat)]
            rows[strategy] = {p: statistics.median(r[p] for r in runs) for p in PHASES}
            size = run.manifest.environment.size_bytes / 1e6
            print(
                f"{strategy}: build {built:.1f} s (environment {size:.0f} MB), "
                + ", ".join(f"{p} {rows[strategy][p]:.1f} s" for p in PHASES),
                file=sys.stderr,
            )

    baseline = sum(rows["shared"].values()) if "shared" in rows else None
    print(
        f"{'strategy':<11}"
        + "".join(f"{p:>11}" for p in PHASES)
        + f"{'overhead':>11}"
        + ("   x shared" if baseline else "")
    )
    for strategy, phases in rows.items():
        total = sum(phases.values())
        ratio = f"{total / baseline:>11.1f}" if baseline else ""
        print(
            f"{strategy:<11}"
            + "".join(f"{phases[p]:>10.1f}s" for p in PHASES)
            + f"{total:>10.1f}s"
            + ratio
        )
    print(f"({args.repeat} run(s) each, median; {os.cpu_count()} CPUs; 1 thread per job)")
    return 0


def _one(run: Run) -> dict[str, float]:
    """Run the wrapper once in --preflight mode; seconds per phase from its timing lines."""
    outcome = run_batch(run, run.preflight_line(), preflight=True)
    logs = outcome.log.read_text() + outcome.log.with_suffix(".out").read_text()
    if outcome.returncode != 0:
        raise SystemExit(f"the wrapper failed ({outcome.log}):\n{logs[-2000:]}")
    found = {name: int(ms) / 1000 for name, ms in TIMING.findall(logs)}
    return {phase: found[phase] for phase in PHASES}


def _default_data_dir() -> Path | None:
    env = os.environ.get("DMSWEEP_DATA_DIR")
    if env:
        return Path(env)
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    return shared if shared.is_dir() else None


if __name__ == "__main__":
    sys.exit(main())
