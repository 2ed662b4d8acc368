"""An incremental aggregate writes the same tables as one from scratch.

The incremental path re-reads only new or changed folders and re-renders only their
summary.csv lines (docs/aggregate.md, Incremental runs); every table it writes must be what a
first aggregate of the same folders writes: byte for byte for the CSV files, equal as a
table for summary.parquet.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmsweep.aggregate import aggregate
from dmsweep.aggregate.pipeline import (
    BEST_CSV,
    FAILURES_CSV,
    REPLICATES_CSV,
    SUMMARY_CSV,
    SUMMARY_PARQUET,
)
from dmsweep.aggregate.synthetic import (
    make_results,
    make_run_folder,
    synthetic_configs,
    write_job_folder,
)

CSV_TABLES = (SUMMARY_CSV, FAILURES_CSV, BEST_CSV, REPLICATES_CSV)
FAULTS = {"failed": 2, "corrupt": 1, "diverged": 1, "no_provenance": 1, "running": 1}


def _change_results(results: Path, elsewhere: Path, *, running_gone: bool) -> None:
    """What happens between two aggregates: new folders (one failed), one folder gone, one
    finished training replaced by a fresh result of the same job, one rerun copied over the
    old files in place, one metrics.json damaged in place (same size); with `running_gone`
    the running training's folder gone too (its gaps in the parameter columns with it: the
    tables' types must follow)."""
    running = list(results.glob(".tmp-*"))
    assert running
    for folder in running if running_gone else ():
        shutil.rmtree(folder)
    rng = np.random.default_rng(5)
    for i, flat in enumerate(synthetic_configs(6, seeds=(41,), rng_seed=3)):
        write_job_folder(results, flat, rng=rng, fault="failed" if i == 0 else None)
    finished = sorted(p for p in results.iterdir() if (p / "metrics.json").is_file())
    shutil.rmtree(finished[0])
    replaced = finished[1]
    flat = {"job_id": replaced.name, **_config_of(replaced)}
    shutil.rmtree(replaced)
    write_job_folder(results, flat, rng=rng)
    _in_place(finished[2], lambda: _rerun_over(finished[2], elsewhere, rng))
    _in_place(finished[3], lambda: _flip_a_digit(finished[3] / "metrics.json"))


def _in_place(folder: Path, change: Callable[[], None]) -> None:
    """Apply `change` to files of `folder` and check that the folder's own mtime and inode
    stayed: only the files' stats can show such a change (collect._signature)."""
    before = os.stat(folder)
    change()
    after = os.stat(folder)
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def _rerun_over(folder: Path, elsewhere: Path, rng: np.random.Generator) -> None:
    """A rerun of the same job whose files land over the old ones, as HTCondor's file
    transfer writes them: each file truncated and rewritten, no file created or removed."""
    flat = {"job_id": folder.name, **_config_of(folder)}
    fresh = write_job_folder(elsewhere, flat, rng=rng)
    old = (folder / "metrics.json").read_bytes()
    for file in fresh.iterdir():
        shutil.copyfile(file, folder / file.name)
    assert (folder / "metrics.json").read_bytes() != old


def _flip_a_digit(path: Path) -> None:
    text = path.read_bytes()
    at = next(i for i in range(len(text) - 1, 0, -1) if text[i : i + 1].isdigit())
    digit = b"1" if text[at : at + 1] != b"1" else b"2"
    with path.open("r+b") as fh:  # in place: same inode, same size, a new mtime
        fh.seek(at)
        fh.write(digit)


def _config_of(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def _assert_same_tables(incremental: Path, scratch: Path) -> None:
    for name in CSV_TABLES:
        assert (incremental / name).read_bytes() == (scratch / name).read_bytes(), name
    pd.testing.assert_frame_equal(
        pd.read_parquet(incremental / SUMMARY_PARQUET), pd.read_parquet(scratch / SUMMARY_PARQUET)
    )


@pytest.mark.parametrize("running_gone", [False, True], ids=["running-kept", "running-gone"])
@pytest.mark.parametrize("kind", ["results", "run"])
def test_incremental_and_from_scratch_write_the_same_tables(
    tmp_path: Path, kind: str, running_gone: bool
) -> None:
    if kind == "run":
        target = tmp_path / "run"
        make_run_folder(target, faults=FAULTS)
        results = target / "results"
    else:
        results = tmp_path / "results"
        make_results(results, seeds=(1, 2), faults=FAULTS)
        target = results
    out = tmp_path / "summary"
    aggregate(target, out, plots=False, report=False, workers=1)
    _change_results(results, tmp_path / "elsewhere", running_gone=running_gone)

    again = aggregate(target, out, plots=False, report=False, workers=1)
    scratch = aggregate(
        target, tmp_path / "scratch", plots=False, report=False, use_cache=False, workers=1
    )
    assert again.n_cached > 0 and again.n_read < scratch.n_read  # the incremental path ran
    assert again.n_rows == scratch.n_rows
    _assert_same_tables(out, tmp_path / "scratch")
