"""Test accuracy of the published avGFP models on splits/main, next to the published numbers.

Trains through the real job path (`dmsweep.train.run_trainings`, one job folder per model,
docs/job-contract.md) with the published settings (data/avgfp/README.md): Adam, MSE, up to
300 epochs, early stopping on the tune loss (patience 15, min decrease 1e-5), best epoch
restored, seed 7. Prints test Pearson r and Spearman rho (test = the published `stest` set)
beside the published values. Goal: within 0.01 of the published numbers, or better.

The published FC Pearson r of 0.967 sits oddly high next to its Spearman of 0.862 (and
next to every other model in the paper); it is printed as published, not explained here.

    .venv/bin/python bench/bench_accuracy.py --data-dir ../shared/data              # linear, fc
    .venv/bin/python bench/bench_accuracy.py --models cnn,gcn --max-epochs 20       # slow ones

CNN and GCN take minutes per epoch on 2 cores; cap them with --max-epochs and read the
result as "after N epochs", not as the converged model. Job folders are kept under
--output (default runs/bench_accuracy), so a second run reuses finished trainings
(--force retrains).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dmsweep.config import TrainConfig
from dmsweep.jobfiles import JobPaths
from dmsweep.train import RunOptions, run_trainings

PUBLISHED_SETTINGS = {
    "linear": {"model": "linear", "learning_rate": 1e-4, "batch_size": 128},
    "fc": {"model": "fc", "layers": 3, "units": 100, "learning_rate": 1e-4, "batch_size": 32},
    "cnn": {
        "model": "cnn",
        "layers": 5,
        "kernel_size": 3,
        "filters": 128,
        "learning_rate": 1e-3,
        "batch_size": 64,
    },
    "gcn": {
        "model": "gcn",
        "layers": 2,
        "filters": 128,
        "graph": "distance",
        "threshold": 7.0,
        "learning_rate": 1e-4,
        "batch_size": 32,
    },
}
COMMON = {
    "dataset": "avgfp",
    "split": "main",
    "encoding": "one_hot,aa_index",
    "max_epochs": 300,
    "patience": 15,
    "min_delta": 1e-5,
    "seed": 7,
}
PUBLISHED_TEST = {
    # model: (pearson, spearman, mse, r2) on splits/main stest, data/avgfp/README.md
    "linear": (0.821, 0.854, 0.365, 0.675),
    "fc": (0.967, 0.862, 0.076, 0.932),
}
TOLERANCE = 0.01


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="linear,fc", help="comma-separated: linear fc cnn gcn")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap (default: 300)")
    parser.add_argument("--data-dir", type=Path, default=None, help="(default $DMSWEEP_DATA_DIR)")
    parser.add_argument("--output", type=Path, default=Path("runs/bench_accuracy"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="retrain finished jobs")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = sorted(set(names) - set(PUBLISHED_SETTINGS))
    if unknown:
        parser.error(f"unknown models {unknown} (choose from {sorted(PUBLISHED_SETTINGS)})")

    configs = []
    for name in names:
        flat = {**COMMON, **PUBLISHED_SETTINGS[name]}
        if args.max_epochs is not None:
            flat["max_epochs"] = args.max_epochs
        configs.append(TrainConfig.from_flat(flat, source=f"bench {name}"))
    options = RunOptions(
        output_root=args.output,
        data_dir=args.data_dir,
        threads=args.threads,
        force=args.force,
        verbose=not args.quiet,
    )
    outcomes = run_trainings(configs, options=options, command=["bench_accuracy.py", *sys.argv[1:]])
    return report(names, outcomes)


def report(names: list[str], outcomes: list) -> int:
    print()
    print("avGFP splits/main, test set (stest); published values from data/avgfp/README.md")
    header = (
        f"{'model':7s} {'epochs':>6s} {'best':>4s} {'s/epoch':>7s} "
        f"{'pearson':>8s} {'(pub)':>6s} {'spearman':>8s} {'(pub)':>6s} "
        f"{'mse':>6s} {'(pub)':>6s} {'r2':>6s} {'(pub)':>6s}  verdict"
    )
    print(header)
    failed = 0
    for name, outcome in zip(names, outcomes, strict=True):
        paths = JobPaths(outcome.path)
        if not outcome.ok:
            failed += 1
            print(f"{name:7s} FAILED: {outcome.error} ({paths.error})")
            continue
        metrics = json.loads(paths.metrics.read_text(encoding="utf-8"))
        test = metrics["splits"]["test"]
        published = PUBLISHED_TEST.get(name)
        pub = [f"{v:6.3f}" for v in published] if published else ["   n/a"] * 4
        verdict = _verdict(test, published)
        print(
            f"{name:7s} {metrics['epochs_run']:6d} {metrics['best_epoch']:4d} "
            f"{metrics['seconds_per_epoch']:7.1f} "
            f"{_num(test['pearson']):>8s} {pub[0]} {_num(test['spearman']):>8s} {pub[1]} "
            f"{_num(test['mse']):>6s} {pub[2]} {_num(test['r2']):>6s} {pub[3]}  {verdict}"
        )
        print(f"        job folder: {outcome.path}")
    return 1 if failed else 0


def _verdict(test: dict, published: tuple | None) -> str:
    if published is None:
        return "no published number"
    ok = all(
        test[key] is not None and test[key] >= value - TOLERANCE
        for key, value in zip(("pearson", "spearman"), published[:2], strict=True)
    )
    return "matches or beats (within 0.01)" if ok else "below published by more than 0.01"


def _num(value: float | None) -> str:
    return "null" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
