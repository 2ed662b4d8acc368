"""Building the 17,820-training resampling sweep, against a naive one-file-per-job baseline.

    .venv/bin/python bench/bench_build.py [SPEC] [--repeats N] [--keep]

Times, in one run on this machine:
  (a) load_spec + expand + plan_batches of SPEC (default sweeps/gfp_resampling.yaml);
  (b) the whole `run_builder SPEC`: dmsweep.run_builder.folder.build_run (load, expand,
      plan, and write the run folder: queue, job list, submit file, wrapper, README, code,
      data), on a copy of SPEC with `environment: {strategy: shared}` - no environment
      tarball (skipped, with a note, where that module is missing);
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
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from dmsweep.run_builder.expand import expand, plan_batches
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


def plan(spec_path: Path) -> tuple[SweepSpec, list, list]:
    spec = load_spec(spec_path)
    trainings = expand(spec)
    batches = plan_batches(trainings, spec.trainings_per_job_by_model)
    return spec, trainings, batches


def folder_builder() -> Callable[[Path, Path, str], Path] | None:
    """build_run(spec, BuildOptions(...)) of dmsweep.run_builder.folder, quiet; None if absent."""
    try:
        from dmsweep.run_builder.folder import BuildOptions, build_run
    except ImportError:
        return None

    def build(spec_path: Path, runs_dir: Path, name: str) -> Path:
        options = BuildOptions(
            runs_dir=runs_dir, data_dir=data_dir(), name=name, log=lambda _line: None
        )
        return build_run(spec_path, options)

    return build


def data_dir() -> Path | None:
    """$DMSWEEP_DATA_DIR, else ../shared/data beside the checkout if it is there."""
    env = os.environ.get("DMSWEEP_DATA_DIR")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def without_tarball(spec_path: Path, scratch: Path) -> Path:
    """A copy of the spec with `environment: {strategy: shared}`: no environment tarball."""
    raw = yaml.safe_load(spec_path.read_text())
    raw["environment"] = {"strategy": "shared"}
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
    parser.add_argument("--keep", action="store_true", help="keep the written folders")
    args = parser.parse_args()
    spec_path = args.spec.resolve()

    runs = REPO / "runs"
    runs.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench_build-", dir=runs))
    try:
        load_spec(spec_path)  # warm imports (numpy, yaml, the dataset card), untimed
        build = folder_builder()
        build_spec = without_tarball(spec_path, scratch)
        if build is not None:
            build(build_spec, scratch / "warm", "warm")  # warm the rest (jinja2, csv), untimed
            shutil.rmtree(scratch / "warm")

        t_plan = t_build = t_naive = float("inf")
        run_dir = naive_dir = None
        # Interleaved, best of N: this machine is shared, so disk and CPU contention vary;
        # interleaving exposes both sides to the same conditions.
        for i in range(args.repeats):
            elapsed, (spec, trainings, batches) = timed(lambda: plan(spec_path))
            t_plan = min(t_plan, elapsed)
            if build is not None:
                elapsed, run_dir = timed(lambda i=i: build(build_spec, scratch / "runs", f"r{i}"))
                t_build = min(t_build, elapsed)
            naive_dir = scratch / f"naive{i}"
            naive_dir.mkdir()
            elapsed, n_naive = timed(lambda d=naive_dir, s=spec: naive_write(s, d))
            t_naive = min(t_naive, elapsed)
        assert naive_dir is not None

        shown = spec_path.relative_to(REPO) if spec_path.is_relative_to(REPO) else spec_path
        print(f"spec                          {shown}")
        print(f"trainings                     {len(trainings):>10,}")
        print(f"HTCondor jobs (batches)       {len(batches):>10,}")
        print(f"(a) load + expand + plan      {t_plan:>10.3f} s")
        if run_dir is None:
            print("(b) build run folder                 - (dmsweep.run_builder.folder not there)")
        else:
            size, files = folder_size(run_dir)
            print(
                f"(b) build run folder          {t_build:>10.3f} s  (build_run: a + write, no env)"
            )
            print(f"    run folder size           {size / 1e6:>10.2f} MB in {files:,} files")
        naive_bytes, _files = folder_size(naive_dir)
        print(
            f"(c) naive baseline            {t_naive:>10.3f} s  ({n_naive:,} argument files, "
            f"tarred: {naive_bytes / 1e6:.1f} MB)"
        )
        if run_dir is not None:
            print(f"ratio b / c                   {t_build / t_naive:>10.3f}    (goal <= 0.25)")
        print(f"ratio a / c                   {t_plan / t_naive:>10.3f}")
        print(f"best of {args.repeats} interleaved runs each")
        if args.keep:
            print(f"kept: {scratch}")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
