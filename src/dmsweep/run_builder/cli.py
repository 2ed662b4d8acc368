"""`run_builder`: build a run folder from a sweep spec, submit it, watch it, repair it.

    run_builder SPEC [-o RUNS_DIR] [--data-dir DIR] [--name NAME] [--reuse-results RUN]
                     [--max-trainings N] [--dry-run [--timings CSV] [--gpu-hour-cost X]]
    run_builder submit RUN [--preflight | --no-preflight] [--force] [--db-credentials FILE]
    run_builder status RUN [--watch] [--all]
    run_builder resubmit RUN [--dry-run] [--requeue-idle] [--db-credentials FILE]
    run_builder run-local RUN [-j N]

Building prints the new run folder's path as its last line (messages go to stderr). Errors a
user can act on are one line, exit status 2; run-local exits 1 when a training failed.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dmsweep._cli import (
    EXIT_FAILED,
    EXIT_OK,
    VersionAction,
    positive_float,
    positive_int,
    run_subcommand,
)
from dmsweep.errors import ConfigError
from dmsweep.run_builder.expand import MAX_TRAININGS
from dmsweep.run_builder.timings import (
    DEFAULT_GPU_HOUR_COST,
    cost_lines,
    device_costs,
    read_timings,
)

if TYPE_CHECKING:
    from dmsweep.run_builder.credentials import CredentialsFile

COMMANDS = ("build", "submit", "status", "resubmit", "run-local")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] not in COMMANDS and not args_list[0].startswith("-"):
        args_list.insert(0, "build")  # `run_builder SPEC` is `run_builder build SPEC`
    parser = build_parser()
    return run_subcommand("run_builder", parser.parse_args(args_list))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_builder",
        description=(
            "Turn a sweep spec into a self-contained HTCondor run folder (run_builder SPEC), "
            "then submit, watch and repair it. See docs/run-builder.md."
        ),
    )
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="(the default command) write a new run folder for a sweep spec",
        description="Validate and expand SPEC, then write RUNS_DIR/<name>-<YYYYmmdd-HHMMSS>/.",
    )
    build.add_argument("spec", type=Path, metavar="SPEC", help="sweep spec (YAML)")
    build.add_argument("-o", "--runs-dir", type=Path, default=Path("runs"), help="default: runs/")
    build.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="local copy of the data (default: $DMSWEEP_DATA_DIR, else download into a cache)",
    )
    build.add_argument("--name", help="run folder name (default: <spec name>-<timestamp>)")
    build.add_argument(
        "--reuse-results",
        type=Path,
        action="append",
        default=[],
        metavar="RUN",
        help="an earlier run folder: trainings with valid results there are linked, not queued",
    )
    build.add_argument(
        "--max-trainings",
        type=positive_int,
        default=MAX_TRAININGS,
        metavar="N",
        help=f"refuse a spec that expands to more trainings (default {MAX_TRAININGS:,})",
    )
    build.add_argument(
        "--dry-run", action="store_true", help="print counts and the estimate, write nothing"
    )
    build.add_argument(
        "--timings",
        type=Path,
        metavar="CSV",
        help="with --dry-run: an earlier sweep's summary.csv (or bench_speed.py --csv output): "
        "estimate CPU- and GPU-hours from its measured seconds per epoch",
    )
    build.add_argument(
        "--gpu-hour-cost",
        type=positive_float,
        default=None,
        metavar="X",
        help=f"core-hours one GPU-hour is worth, to say which request is cheaper "
        f"(default {DEFAULT_GPU_HOUR_COST:g})",
    )
    build.set_defaults(run=_build)

    submit = commands.add_parser("submit", help="submit a run folder to HTCondor (one cluster)")
    submit.add_argument("run_dir", type=Path, metavar="RUN")
    group = submit.add_mutually_exclusive_group()
    group.add_argument(
        "--preflight", dest="preflight", action="store_true", default=None,
        help="run a preflight job first, submit the sweep only if it passes",
    )  # fmt: skip
    group.add_argument("--no-preflight", dest="preflight", action="store_false")
    submit.add_argument("--force", action="store_true", help="submit again although submitted")
    _credentials_option(submit)
    submit.set_defaults(run=_submit)

    status = commands.add_parser("status", help="done, running, idle, held, failed, missing")
    status.add_argument("run_dir", type=Path, metavar="RUN")
    status.add_argument("--watch", action="store_true", help="follow with a progress bar")
    status.add_argument("--interval", type=float, default=10.0, help="seconds between updates")
    status.add_argument("--all", action="store_true", help="list every training needing attention")
    status.set_defaults(run=_status)

    resubmit = commands.add_parser(
        "resubmit", help="queue again only the trainings without valid results"
    )
    resubmit.add_argument("run_dir", type=Path, metavar="RUN")
    resubmit.add_argument("--dry-run", action="store_true", help="say what would happen")
    resubmit.add_argument(
        "--requeue-idle", action="store_true", help="also replace jobs still idle in the queue"
    )
    _credentials_option(resubmit)
    resubmit.set_defaults(run=_resubmit)

    local = commands.add_parser("run-local", help="run the jobs here, without a pool, N at a time")
    local.add_argument("run_dir", type=Path, metavar="RUN")
    local.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="batches at once (default 1)",
    )
    local.add_argument("--no-progress", action="store_true", help="no progress bar")
    local.set_defaults(run=_run_local)
    return parser


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def _build(args: argparse.Namespace) -> int:
    # A plan is tens of thousands of small objects (trainings, configs, their dicts) that
    # live until the command ends and form no reference cycles: the cyclic collector would
    # only walk them again and again (0.05 s, a tenth of the resampling sweep's build).
    # Reference counting still frees what is dropped; the command exits right after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_or_dry_run(args)
    finally:
        if collecting:
            gc.enable()


def _build_or_dry_run(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args)
    for option, value in (("--timings", args.timings), ("--gpu-hour-cost", args.gpu_hour_cost)):
        if value is not None:
            raise ConfigError(f"{option}: only with --dry-run (it is part of the printed estimate)")
    from dmsweep.run_builder.folder import BuildOptions, build_run

    options = BuildOptions(
        runs_dir=args.runs_dir,
        data_dir=args.data_dir,
        name=args.name,
        reuse_results=tuple(args.reuse_results),
        max_trainings=args.max_trainings,
        log=_err,
    )
    print(build_run(args.spec, options))
    return EXIT_OK


def _dry_run(args: argparse.Namespace) -> int:
    """The plan, the environment's transfer and (with --timings) measured cost; none of the
    writing machinery is imported."""
    from dmsweep.data.source import DataSource
    from dmsweep.run_builder.environments import environment_lines
    from dmsweep.run_builder.plan import plan_file

    data = DataSource.resolve(args.data_dir)
    planned = plan_file(args.spec, data=data, max_trainings=args.max_trainings)
    environment = planned.spec.environment
    lines = planned.summary()
    lines += environment_lines(environment, [b.resources for b in planned.batches])
    if args.timings is not None:
        timings = read_timings(args.timings)
        gpu_hour_cost = args.gpu_hour_cost or DEFAULT_GPU_HOUR_COST
        lines += cost_lines(timings, device_costs(timings, planned.batches), gpu_hour_cost)
    print("\n".join(lines))
    return EXIT_OK


def _credentials_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db-credentials",
        type=Path,
        metavar="FILE",
        help="a database credentials file (mode 0600) transferred with every job; never "
        "written into the run folder or sweep.sub",
    )


def _credentials(args: argparse.Namespace) -> CredentialsFile | None:
    from dmsweep.run_builder.credentials import check_credentials_file

    return None if args.db_credentials is None else check_credentials_file(args.db_credentials)


def _submit(args: argparse.Namespace) -> int:
    from dmsweep.run_builder.run import Run
    from dmsweep.run_builder.submit import submit_run

    credentials = _credentials(args)
    run = Run.open(args.run_dir)
    submit_run(run, preflight=args.preflight, force=args.force, credentials=credentials)
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from dmsweep.run_builder.run import Run
    from dmsweep.run_builder.status import format_status, run_status, watch

    run = Run.open(args.run_dir)
    if args.watch:
        watch(run, interval_s=args.interval)
        return EXIT_OK
    limit = sys.maxsize if args.all else 20
    for line in format_status(run_status(run), name=run.name, limit=limit):
        print(line)
    return EXIT_OK


def _resubmit(args: argparse.Namespace) -> int:
    from dmsweep.run_builder.resubmit import resubmit
    from dmsweep.run_builder.run import Run

    credentials = _credentials(args)
    resubmit(
        Run.open(args.run_dir),
        dry_run=args.dry_run,
        requeue_idle=args.requeue_idle,
        credentials=credentials,
    )
    return EXIT_OK


def _run_local(args: argparse.Namespace) -> int:
    from dmsweep.run_builder.local import Interrupted, run_local
    from dmsweep.run_builder.run import Run
    from dmsweep.run_builder.status import format_status, run_status

    run = Run.open(args.run_dir)
    try:
        run_local(run, jobs=args.jobs, log=_err, progress=not args.no_progress)
    except Interrupted as stopped:
        _err(f"run_builder run-local: {stopped}")
        return 128 + stopped.signum
    status = run_status(run)
    for line in format_status(status, name=run.name):
        print(line)
    counts = status.counts()
    return EXIT_OK if counts["done"] == len(status.trainings) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
