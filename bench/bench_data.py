"""Loading avGFP: seconds to parse the table into int8 codes, against a plain pandas read.

    DMSWEEP_DATA_DIR=../shared/data .venv/bin/python bench/bench_data.py

The baseline (pandas.read_csv of the same table, no validation) is measured in the same run,
so the ratio says what validation and encoding cost on this machine today.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dmsweep.data import load_dataset, resolve_data_dir


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    data_dir = resolve_data_dir(os.environ.get("DMSWEEP_DATA_DIR"))
    if data_dir is None:
        raise SystemExit("set DMSWEEP_DATA_DIR to a folder holding avgfp/ (e.g. ../shared/data)")
    table = Path(data_dir) / "avgfp" / "avgfp.tsv"
    baseline = best_of(3, lambda: pd.read_csv(table, sep="\t"))
    ours = best_of(3, lambda: load_dataset("avgfp", data_dir=data_dir))
    dataset = load_dataset("avgfp", data_dir=data_dir)
    print(f"rows                     {len(dataset):>10,}")
    print(f"codes                    {dataset.codes.nbytes / 1e6:>10.1f} MB int8")
    print(f"pandas read_csv (base)   {baseline:>10.3f} s")
    print(f"load_dataset (validated) {ours:>10.3f} s   ratio {ours / baseline:.1f}x (goal < 2 s)")


if __name__ == "__main__":
    main()
