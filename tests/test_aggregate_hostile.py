"""Hostile or damaged input to `aggregate`: a planted cache, copies, two runs at once."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from dmsweep.aggregate import aggregate
from dmsweep.aggregate.collect import CACHE_FILE, OLD_CACHE_FILES
from dmsweep.aggregate.synthetic import make_results


class _Planted:
    """Unpickling this runs `touch <marker>`: what a planted cache would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


def test_a_planted_pickle_never_runs(tmp_path: Path) -> None:
    make_results(tmp_path / "results", 20)
    out = tmp_path / "summary"
    out.mkdir()
    marker = tmp_path / "pwned"
    for name in (*OLD_CACHE_FILES, CACHE_FILE):
        (out / name).write_bytes(pickle.dumps(_Planted(marker)))
    result = aggregate(tmp_path / "results", out, plots=False, report=False)
    assert not marker.exists()
    assert result.n_read == 20 and result.n_rows == 20
    assert any(
        w.startswith(f"{out / CACHE_FILE}: ") and "cache ignored" in w for w in result.warnings
    )
    assert not any((out / name).exists() for name in OLD_CACHE_FILES)
    again = aggregate(tmp_path / "results", out, plots=False, report=False)
    assert again.n_cached == 20 and not any("cache" in w for w in again.warnings)


def test_a_copied_job_folder_is_counted_once(tmp_path: Path) -> None:
    outcomes = make_results(tmp_path / "results", 10)
    job = sorted(outcomes)[3]
    shutil.copytree(tmp_path / "results" / job, tmp_path / "results" / "a-copy")
    result = aggregate(tmp_path / "results", tmp_path / "summary", plots=False, report=False)
    assert result.n_rows == 10
    assert result.completeness.startswith("10/10 trainings done")
    assert f"job {job} is in 2 folders: {job} counted, a-copy skipped as copies" in result.warnings
    summary = pd.read_csv(tmp_path / "summary" / "summary.csv")
    assert summary["job_id"].tolist().count(job) == 1


def test_a_symlink_loop_in_results_is_reported_not_fatal(tmp_path: Path) -> None:
    make_results(tmp_path / "results", 10)
    (tmp_path / "results" / "loop").symlink_to(tmp_path / "results" / "loop")
    command = [str(Path(sys.executable).with_name("aggregate")), str(tmp_path / "results")]
    done = subprocess.run([*command, "--no-plots", "--no-report"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "cannot write the summary" not in done.stderr
    failures = pd.read_csv(tmp_path / "summary" / "failures.csv")
    assert failures.set_index("job_id").at["loop", "detail"].startswith("cannot read this folder")
    assert "10/11 trainings done, 1 corrupt" in done.stdout


def test_two_aggregates_into_one_output_folder(tmp_path: Path) -> None:
    """Two processes at once: neither fails on a shared temporary name, the files are whole."""
    make_results(tmp_path / "results", 300, faults={"failed": 5})
    out = tmp_path / "summary"
    command = [
        str(Path(sys.executable).with_name("aggregate")),
        str(tmp_path / "results"),
        "-o",
        str(out),
        "--no-plots",
        "--no-report",
    ]
    for _ in range(2):
        procs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        outputs = [p.communicate() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [e.decode() for _, e in outputs]
        assert len(pd.read_csv(out / "summary.csv")) == 295
        assert len(pd.read_parquet(out / "summary.parquet")) == 295
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
