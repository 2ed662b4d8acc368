"""Two versions of run_builder on one spec, as whole commands alternated in one run.

    mkdir -p /tmp/before && git archive REV src | tar -x -C /tmp/before
    python bench/bench_build_ab.py /tmp/before/src [SPEC] [--repeats N]

Runs `run_builder SPEC --dry-run` and `run_builder SPEC -o DIR` of the checkout at OTHER_SRC
(its `src` folder first on PYTHONPATH) and of this interpreter's dmsweep, alternated N times
each, and prints per version and command the median and best wall and CPU seconds (user +
system of the subprocess). For changes of a few per cent on a loaded machine: wall times move
with the other load, CPU times much less, and alternating exposes both versions to the same
conditions. The tarball environment must already be cached (bench_build.py's first build, or
any build of the spec). Run folders are written below a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_build import timed_command

DEFAULT_SPEC = Path(__file__).resolve().parents[1] / "sweeps" / "gfp_resampling.yaml"


def command_times(env: dict[str, str], *args: str) -> tuple[float, float]:
    """(wall, CPU) seconds of `run_builder ARGS` in a fresh interpreter."""
    command = [sys.executable, "-m", "dmsweep.run_builder.cli", *args]
    wall, cpu, _ = timed_command(
        lambda: subprocess.run(command, env=env, check=True, capture_output=True)
    )
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("other_src", type=Path, help="the other version's src folder")
    parser.add_argument("spec", nargs="?", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    versions = {
        "other": {**os.environ, "PYTHONPATH": str(args.other_src.resolve())},
        "this": dict(os.environ),
    }
    scratch = Path(tempfile.mkdtemp(prefix="bench_build_ab-"))
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for i in range(args.repeats):
            for name, env in versions.items():
                dry = command_times(env, str(args.spec), "--dry-run")
                build = command_times(
                    env, str(args.spec), "-o", str(scratch), "--name", f"{name}{i}"
                )
                times.setdefault((name, "dry-run"), []).append(dry)
                times.setdefault((name, "build"), []).append(build)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    header = ("version", "command", "wall median", "best", "CPU median", "best")
    print("{:<8} {:<8} {:>12} {:>7} {:>11} {:>7}".format(*header))
    for (name, what), pairs in sorted(times.items()):
        walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
        print(
            f"{name:<8} {what:<8} {statistics.median(walls):>12.3f} {min(walls):>7.3f} "
            f"{statistics.median(cpus):>11.3f} {min(cpus):>7.3f}"
        )
    print(f"{args.repeats} alternated runs each, spec {args.spec}")


if __name__ == "__main__":
    main()
