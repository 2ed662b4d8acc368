"""`aggregate RESULTS [-o OUT]` end to end on synthetic job folders: files, messages, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmsweep import jobfiles
from dmsweep.aggregate.cli import main
from dmsweep.aggregate.collect import CACHE_FILE, Cache
from dmsweep.aggregate.pipeline import default_output
from dmsweep.aggregate.synthetic import (
    make_results,
    make_run_folder,
    synthetic_configs,
    write_job_folder,
)
from dmsweep.core.results import write_manifest

FAULTS = {"failed": 2, "corrupt": 1, "diverged": 1, "running": 1, "never_ran": 2}


def parquet_usable() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([*map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_run_folder_gives_every_output(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    outcomes = make_run_folder(run, 40, seeds=(1, 2), faults=FAULTS, rng_seed=3)
    code, out, err = run_cli(capsys, run)
    assert code == 0, err
    summary_dir = run / "summary"
    assert out.splitlines()[-1].startswith(f"summary: {summary_dir}")
    n_ok = sum(o == "ok" for o in outcomes.values())
    assert (
        f"{n_ok}/40 trainings done, 2 failed, 1 diverged, 1 corrupt, 1 running, 2 never ran" in out
    )

    summary = pd.read_csv(summary_dir / "summary.csv")
    assert len(summary) == n_ok + 1  # the diverged one is a trained model too
    assert list(summary.columns[:3]) == ["job_id", "status", "model"]
    assert {"test_pearson", "tune_mse", "epochs_run", "runtime_s", "peak_memory_mb"} <= set(
        summary.columns
    )
    assert {"host", "dmsweep_version", "git_commit", "batch_id", "condor_exit_code"} <= set(
        summary.columns
    )
    assert summary["encoding"].eq("one_hot+aa_index").all()
    assert summary["batch_size"].dtype.kind == "i"
    failures = pd.read_csv(summary_dir / "failures.csv")
    assert len(failures) == 40 - n_ok
    assert sorted(failures["reason"].unique()) == [
        "corrupt",
        "diverged",
        "failed",
        "never ran",
        "running",
    ]
    best = pd.read_csv(summary_dir / "best.csv")
    assert set(best["model"]) == set(summary["model"])
    assert all(Path(f).is_dir() for f in best["folder"])
    if parquet_usable():
        assert pd.read_parquet(summary_dir / "summary.parquet").shape == summary.shape
    else:
        assert "summary.parquet not written" in out

    plots = sorted(p.name for p in (summary_dir / "plots").iterdir())
    assert "model_comparison.png" in plots and "model_comparison.svg" in plots
    assert len([p for p in plots if p.endswith(".png")]) == len(
        [p for p in plots if p.endswith(".svg")]
    )
    report = (summary_dir / "report.html").read_text()
    assert "trainings done" in report
    assert report.count("data:image/png;base64,") == len(plots) // 2
    assert not re.search(r"""(src|href)=["']https?:""", report)  # self-contained
    assert "best.csv" in report and "ResourceExhaustedError" in report


def test_default_output_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    make_run_folder(run, 8)
    assert default_output(run) == run / "summary"
    assert default_output(run / "results") == run / "summary"
    assert default_output(tmp_path / "x" / "results") == tmp_path / "x" / "summary"
    assert default_output(tmp_path / "trials") == tmp_path / "trials-summary"


def test_second_run_reads_only_new_folders_and_writes_the_same_csv(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    make_results(results, 30, faults={"failed": 1}, rng_seed=1)
    out = tmp_path / "summary"
    options = ("--no-plots", "--no-report", "-o", out)
    code, text, _ = run_cli(capsys, results, *options)
    assert code == 0 and text.startswith("read 30 job folder(s), 0 unchanged")
    code, text, _ = run_cli(capsys, results, *options)
    assert text.startswith("read 0 job folder(s), 30 unchanged")

    rng = np.random.default_rng(7)
    for flat in synthetic_configs(2, seeds=(42,), rng_seed=9):
        write_job_folder(results, flat, rng=rng)
    code, text, _ = run_cli(capsys, results, *options)
    assert text.startswith("read 2 job folder(s), 30 unchanged")
    cached = (out / "summary.csv").read_text()
    code, text, _ = run_cli(capsys, results, "--no-cache", *options)
    assert text.startswith("read 32 job folder(s), 0 unchanged")
    assert (out / "summary.csv").read_text() == cached
    assert len(pd.read_csv(out / "summary.csv")) == 31


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such folder"),
        (lambda p: p.mkdir(), "no job folders to aggregate"),
        (lambda p: p.write_text("x"), "not a folder"),
        (
            lambda p: (p.mkdir(), (p / jobfiles.CONFIG).write_text("{}")),
            "this is one job folder",
        ),
    ],
)
def test_nothing_to_aggregate_exits_2_with_one_line(tmp_path: Path, capsys, setup, message) -> None:
    target = tmp_path / "results"
    setup(target)
    code, out, err = run_cli(capsys, target)
    assert code == 2 and out == ""
    assert err.startswith("aggregate: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "summary").exists()


def test_an_unwritable_output_is_one_line(tmp_path: Path, capsys) -> None:
    make_results(tmp_path / "results", 3)
    (tmp_path / "taken").write_text("a file where the output folder should go")
    code, _, err = run_cli(capsys, tmp_path / "results", "-o", tmp_path / "taken")
    assert code == 2
    assert err.startswith("aggregate: cannot write the summary:") and err.count("\n") == 1


def test_unknown_metric_names_the_choices(tmp_path: Path, capsys) -> None:
    make_results(tmp_path / "results", 6)
    code, _, err = run_cli(capsys, tmp_path / "results", "--select-metric", "tune_rmse")
    assert code == 2
    assert "--select-metric tune_rmse: not a metric" in err and "tune_mse" in err


def test_select_metric_changes_the_selection(tmp_path: Path, capsys) -> None:
    make_results(tmp_path / "results", 40, rng_seed=2)
    out = tmp_path / "out"
    run_cli(capsys, tmp_path / "results", "--no-plots", "--no-report", "-o", out)
    by_mse = pd.read_csv(out / "best.csv").set_index("model")
    run_cli(
        capsys, tmp_path / "results", "--no-plots", "--select-metric", "test_spearman", "-o", out
    )
    by_spearman = pd.read_csv(out / "best.csv").set_index("model")
    summary = pd.read_csv(out / "summary.csv")
    assert "test_spearman_mean" in by_spearman.columns
    for model, rows in summary.groupby("model"):
        assert by_spearman.at[model, "test_spearman"] == rows["test_spearman"].max()
        assert by_mse.at[model, "tune_mse"] == rows["tune_mse"].min()


def test_results_of_two_tasks_are_warned_about(tmp_path: Path) -> None:
    """A folder mixing regression and classification results: best.csv ranks by one tune
    metric that only one task's trainings have, so the others are silently out of it."""
    from dmsweep.aggregate import checks
    from dmsweep.aggregate.collect import collect

    results = tmp_path / "results"
    make_results(results, 12, rng_seed=4)
    collection = collect(results, workers=1)
    assert not [w for w in checks.input_warnings(collection, None) if "task" in w]
    trained = collection.records.index[collection.records["status"].eq("ok")]
    collection.records.loc[trained[:3], "task"] = "multiclass"  # the rest: no task (regression)
    (warning,) = [w for w in checks.input_warnings(collection, None) if "task" in w]
    assert warning.startswith(
        "results mix regression and classification: task = regression (9), multiclass (3); "
    )
    collection.records.loc[trained, "task"] = "binary"  # classification only: one metric fits
    collection.records.loc[trained[:2], "task"] = "multiclass"
    assert not [w for w in checks.input_warnings(collection, None) if "task" in w]


def test_mixed_sweeps_are_warned_about_and_kept(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    make_results(results, 12, rng_seed=4)
    folders = sorted(p for p in results.iterdir())
    for folder in folders[:3]:
        config = json.loads((folder / jobfiles.CONFIG).read_text())
        config.update(dataset="gb1", optimizer="sgd")
        del config["patience"]
        (folder / jobfiles.CONFIG).write_text(json.dumps(config))
        write_manifest(folder, folder.name, "another-sweep-tool")
    code, out, _ = run_cli(capsys, results, "--no-plots", "--no-report")
    assert code == 0
    assert "warning: results mix datasets: dataset = avgfp (9), gb1 (3)" in out
    assert re.search(
        r"warning: \w+ jobs have parameters this dmsweep does not know.*optimizer", out
    )
    assert re.search(r"warning: \w+ jobs lack parameters every \w+ config has: patience", out)
    assert len(pd.read_csv(tmp_path / "summary" / "summary.csv")) == 12


def test_results_still_running_are_counted(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    make_results(results, 3, faults={"running": 3})
    code, out, _ = run_cli(capsys, results)
    assert code == 0
    assert "0/3 trainings done, 3 running" in out
    assert pd.read_csv(tmp_path / "summary" / "summary.csv").empty
    assert (tmp_path / "summary" / "report.html").is_file()


def test_an_output_folder_inside_results_is_not_a_job(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    make_results(results, 5)
    for _ in range(2):
        code, out, _ = run_cli(capsys, results, "-o", results / "summary", "--no-plots")
        assert code == 0 and "5/5 trainings done" in out


def test_a_rerun_that_finds_nothing_new_leaves_the_cache_file_alone(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    make_results(results, 30, faults={"failed": 1, "corrupt": 2}, rng_seed=3)
    out = tmp_path / "summary"
    options = ("--no-plots", "--no-report", "-o", out)
    run_cli(capsys, results, *options)
    cache = out / CACHE_FILE
    before = cache.stat().st_mtime_ns, cache.read_bytes()
    code, text, _ = run_cli(capsys, results, *options)
    assert code == 0 and text.startswith("read 2 job folder(s), 28 unchanged")  # corrupt: again
    assert (cache.stat().st_mtime_ns, cache.read_bytes()) == before
    loaded = Cache.load(cache, results)
    assert loaded.note is None and len(loaded.records) == 30
    assert len(loaded.csv_lines["lines"]) == 27  # one summary.csv line per trained folder
    body = (out / "summary.csv").read_text().splitlines()[1:]
    assert sorted(loaded.csv_lines["lines"].values()) == sorted(body)
