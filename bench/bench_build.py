"""Building the 17,820-training resampling sweep as whole commands, against a naive baseline.

    python bench/bench_build.py [SPEC] [--repeats N] [--env tarball|shared] [--keep]

Times, interleaved in one run on this machine (best of N):
  (a) `run_builder SPEC --dry-run` as a subprocess (start-up, validation, expansion,
      estimate): goal < 0.7 s;
  (b) `run_builder SPEC -o DIR --name rN` as a subprocess: the whole build (start-up,
      validation, expansion, writing queue, job list, submit file, wrapper, README, code,
      data), with the spec's environment strategy (default: the tarball, built and cached
      by a first, untimed build, as a user's second build finds it);
  (c) the naive baseline the published nn4dms workflow used (code/gen_args.py and
      code/prep_htcondor_run.py): expand the axes with itertools.product (no validation, no
      dedup), write one text file of argparse flags per training
      ("--learning_rate\\n0.0001\\n..."), tar -czf them into args.tar.gz, delete args/.
It prints the times, the ratio b / c (goal: <= 0.25) and the run folder's size (goal:
< 20 MB; the data files count although they are hard links). Everything is written below a
temporary folder in the repository's runs/ (the filesystem of real runs) and removed
afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from dmsweep.run_builder.spec import SweepSpec, load_spec

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO / "sweeps" / "gfp_resampling.yaml"


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def folder_size(path: Path) -> tuple[int, int]:
    """(bytes, files) below path, not following symlinks (a linked env cache is not copied)."""
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            p = Path(root) / name
            if not p.is_symlink():
                total += p.stat().st_size
                files += 1
    return total, files


# --------------------------------------------------------------------------- (a) + (b)


def run_builder(*args: str) -> str:
    """`run_builder ARGS` in a fresh interpreter, as a user runs it; returns its stdout."""
    command = [sys.executable, "-m", "dmsweep.run_builder.cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stdout


def data_dir() -> Path | None:
    """$DMSWEEP_DATA_DIR, else ../shared/data beside the checkout if it is there."""
    env = os.environ.get("DMSWEEP_DATA_DIR")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def with_environment(spec_path: Path, scratch: Path, strategy: str) -> Path:
    """A copy of the spec with `environment: {strategy: ...}`."""
    raw = yaml.safe_load(spec_path.read_text())
    raw["environment"] = {"strategy": strategy}
    copy = scratch / spec_path.name
    copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    return copy


# --------------------------------------------------------------------------- (c) baseline


def naive_configs(spec: SweepSpec) -> list[dict[str, Any]]:
    """What a per-sweep script does: itertools.product over every axis, no checks."""
    configs = []
    for block in spec.blocks:
        fixed = {"dataset": spec.dataset, "model": block.model, **spec.fixed, **block.fixed}
        axes = [a for a in spec.axes if a.key not in block.set_keys()] + list(block.axes)
        for values in itertools.product(*(a.values for a in axes)):
            configs.append({**fixed, **dict(zip((a.key for a in axes), values, strict=True))})
    return configs


def naive_write(spec: SweepSpec, out: Path) -> int:
    """nn4dms' prep_htcondor_run.py: one argument file per training (gen_args, in the
    regression_args format), then `tar -czf args.tar.gz -C RUN args` and delete args/."""
    args_dir = out / "args"
    args_dir.mkdir(parents=True)
    configs = naive_configs(spec)
    for i, config in enumerate(configs):
        lines = []
        for key, value in config.items():
            lines.append(f"--{key}")
            lines.append(",".join(value) if isinstance(value, tuple | list) else str(value))
        (args_dir / f"{i}.txt").write_text("\n".join(lines) + "\n")
    subprocess.run(["tar", "-czf", str(out / "args.tar.gz"), "-C", str(out), "args"], check=True)
    shutil.rmtree(args_dir)
    return len(configs)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", nargs="?", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env", choices=("tarball", "shared"), default="tarball")
    parser.add_argument("--keep", action="store_true", help="keep the written folders")
    args = parser.parse_args()
    spec_path = args.spec.resolve()
    data = data_dir()
    if data is not None:
        os.environ["DMSWEEP_DATA_DIR"] = str(data)

    runs = REPO / "runs"
    runs.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench_build-", dir=runs))
    try:
        spec = load_spec(spec_path)
        build_spec = with_environment(spec_path, scratch, args.env)
        out = scratch / "runs"
        started = time.perf_counter()
        run_builder(str(build_spec), "-o", str(out), "--name", "warm")  # builds the env cache
        print(f"first build (environment cache)  {time.perf_counter() - started:.1f} s, untimed")
        shutil.rmtree(out / "warm")

        t_dry = t_build = t_naive = float("inf")
        run_dir = naive_dir = None
        # Interleaved, best of N: this machine is shared, so disk and CPU contention vary;
        # interleaving exposes both sides to the same conditions.
        for i in range(args.repeats):
            elapsed, lines = timed(lambda: run_builder(str(build_spec), "--dry-run"))
            t_dry = min(t_dry, elapsed)
            elapsed, _ = timed(
                lambda i=i: run_builder(str(build_spec), "-o", str(out), "--name", f"r{i}")
            )
            t_build = min(t_build, elapsed)
            run_dir = out / f"r{i}"
            naive_dir = scratch / f"naive{i}"
            naive_dir.mkdir()
            elapsed, n_naive = timed(lambda d=naive_dir: naive_write(spec, d))
            t_naive = min(t_naive, elapsed)
        assert naive_dir is not None and run_dir is not None

        shown = spec_path.relative_to(REPO) if spec_path.is_relative_to(REPO) else spec_path
        total = next(line for line in lines.splitlines() if line.startswith("total")).split()
        size, files = folder_size(run_dir)
        naive_bytes, _files = folder_size(naive_dir)
        print(f"spec                          {shown}  (environment: {args.env})")
        print(f"trainings                     {int(total[1].replace(',', '')):>10,}")
        print(f"HTCondor jobs (batches)       {int(total[2].replace(',', '')):>10,}")
        print(f"(a) run_builder --dry-run     {t_dry:>10.3f} s  (whole command; goal < 0.7 s)")
        print(f"(b) run_builder SPEC          {t_build:>10.3f} s  (whole command, env cached)")
        print(f"    run folder size           {size / 1e6:>10.2f} MB in {files:,} files")
        print(
            f"(c) naive baseline            {t_naive:>10.3f} s  ({n_naive:,} argument files, "
            f"tarred: {naive_bytes / 1e6:.1f} MB)"
        )
        print(f"ratio b / c                   {t_build / t_naive:>10.3f}    (goal <= 0.25)")
        print(f"best of {args.repeats} interleaved runs each")
        if args.keep:
            print(f"kept: {scratch}")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
