"""`aggregate RESULTS [-o OUT]`: the console script (see docs/aggregate.md).

Exit status: 0 when the summary was written (also when some trainings failed or still
run: failures.csv and the completeness line say so); 1 when there is nothing to aggregate
or the input is unusable (no such folder, a single job folder, an empty folder, an unknown
metric) or the output folder cannot be written, with one line saying why; 2 for a
command-line usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dmsweep import __version__
from dmsweep._cli import EXIT_ERROR, positive_int
from dmsweep.aggregate.pipeline import CLASSIFICATION_METRIC, DEFAULT_METRIC, REPORT, aggregate
from dmsweep.aggregate.selection import CLASSIFICATION_SELECT_METRIC, DEFAULT_SELECT_METRIC
from dmsweep.errors import DmsweepError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregate",
        description=(
            "Summarise a sweep: one CSV row per trained model, the trainings without a valid "
            "result and why, the best configuration per model type, plots and an HTML report."
        ),
    )
    parser.add_argument(
        "results",
        type=Path,
        metavar="RESULTS",
        help="a results folder of job folders, or a run folder (then jobs.csv and the "
        "HTCondor event log are used too)",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        help="output folder (default: <run folder>/summary, or <RESULTS>/../summary for a "
        "folder named results, else <RESULTS>-summary beside it)",
    )
    parser.add_argument(
        "--metric",
        default=None,
        help=f"metric the plots show (default: {DEFAULT_METRIC}; {CLASSIFICATION_METRIC} for "
        "classification results)",
    )
    parser.add_argument(
        "--select-metric",
        default=None,
        help="metric that picks the best configuration per model type; *mse and *loss are "
        f"minimised, anything else maximised (default: {DEFAULT_SELECT_METRIC}; "
        f"{CLASSIFICATION_SELECT_METRIC} for classification results)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        metavar="N",
        help="worker processes for reading folders and drawing plots (default, where the "
        "work is large enough: 4,000+ folders to read, one per CPU the load average leaves "
        "idle (at least 2) if 1+ is; 3+ figures, one per CPU on 2+ CPUs; at most 8; 1: none)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the plots")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="read every job folder again, ignoring (and not writing) the incremental cache",
    )
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress", action="store_true", default=None, help="always show a progress bar"
    )
    progress.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show a progress bar"
    )
    parser.add_argument("--version", action="version", version=f"dmsweep {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = aggregate(
            args.results,
            args.out,
            metric=args.metric,
            select_metric=args.select_metric,
            plots=not args.no_plots,
            report=not args.no_report,
            use_cache=not args.no_cache,
            progress=args.progress,
            workers=args.jobs,
        )
    except DmsweepError as err:
        print(f"aggregate: {err}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as err:  # the output folder cannot be written
        print(f"aggregate: cannot write the summary: {err}", file=sys.stderr)
        return EXIT_ERROR
    seconds = result.seconds
    print(
        f"read {result.n_read} job folder(s), {result.n_cached} unchanged from the cache, "
        f"in {seconds.get('read', 0):.1f} s; {result.n_rows} trained model(s) in summary.csv"
    )
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(result.completeness)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items() if k != "total")
    print(f"time: {timing}; total {seconds.get('total', 0):.1f} s")
    report = result.out / REPORT
    print(f"summary: {result.out}" + (f"  (open {report})" if report in result.files else ""))
    return 0


__all__ = ["build_parser", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
