"""Reading job folders: one record per folder whatever its state, and the incremental cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmsweep import jobfiles
from dmsweep.aggregate.collect import Cache, collect, read_job_folder
from dmsweep.aggregate.synthetic import make_results, synthetic_configs, write_job_folder
from dmsweep.core.results import write_manifest


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    faults = {
        "failed": 2,
        "corrupt": 1,
        "missing_keys": 1,
        "diverged": 1,
        "no_provenance": 1,
        "running": 1,
    }
    outcomes = make_results(tmp_path / "results", faults=faults)
    return tmp_path / "results", outcomes


def test_every_folder_gets_a_record_with_its_status(results) -> None:
    folder, outcomes = results
    records = collect(folder).records
    status = dict(zip(records["job_id"], records["status"], strict=True))
    expected = {
        "ok": "ok",
        "no_provenance": "ok",
        "failed": "failed",
        "corrupt": "corrupt",
        "missing_keys": "corrupt",
        "diverged": "diverged",
        "running": "running",
    }
    assert status == {job: expected[outcome] for job, outcome in outcomes.items()}
    assert len(records) == len(outcomes)


def test_details_say_why(results) -> None:
    folder, outcomes = results
    records = collect(folder).records.set_index("job_id")
    by_outcome = {o: records.loc[j] for j, o in outcomes.items()}
    assert by_outcome["failed"]["detail"].startswith("ResourceExhaustedError: OOM")
    assert "(during train)" in by_outcome["failed"]["detail"]
    assert "not valid JSON" in by_outcome["corrupt"]["detail"]
    assert "line" in by_outcome["corrupt"]["detail"]
    assert by_outcome["missing_keys"]["detail"] == "metrics.json lacks epochs_run, splits.test"
    assert "test_mse" in by_outcome["diverged"]["detail"]
    assert by_outcome["no_provenance"]["notes"] == "provenance.json missing"
    assert by_outcome["running"]["detail"].startswith("in progress (.tmp-")


def test_a_record_holds_parameters_metrics_and_provenance(results) -> None:
    folder, outcomes = results
    job = next(j for j, o in outcomes.items() if o == "ok")
    config = json.loads((folder / job / jobfiles.CONFIG).read_text())
    metrics = json.loads((folder / job / jobfiles.METRICS).read_text())
    record, _, keys = read_job_folder(os.fspath(folder / job), job)
    assert record["encoding"] == "+".join(config["encoding"])
    assert record["learning_rate"] == config["learning_rate"]
    assert record["test_pearson"] == metrics["splits"]["test"]["pearson"]
    assert record["tune_ndcg100"] == metrics["splits"]["tune"]["ndcg100"]
    assert record["runtime_s"] == metrics["timings"]["total"]
    assert record["time_train_s"] == metrics["timings"]["train"]
    assert record["host"].startswith("node") and record["dmsweep_version"]
    assert "learning_rate" in keys


def rewrite_metrics(folder: Path, change) -> None:
    """Change metrics.json as a (buggy or hostile) trainer would, manifest.json included."""
    metrics = json.loads((folder / jobfiles.METRICS).read_text())
    change(metrics)
    (folder / jobfiles.METRICS).write_text(json.dumps(metrics))
    write_manifest(folder, folder.name, "test")


def test_null_loss_means_diverged(tmp_path: Path) -> None:
    """The trainer writes NaN as null: a null loss is a diverged (valid, poor) result."""
    folder = write_job_folder(tmp_path, synthetic_configs()[0], rng=np.random.default_rng(0))
    rewrite_metrics(folder, lambda m: m["splits"]["tune"].update(mse=None))
    records = collect(tmp_path).records.set_index("job_id")
    assert records.at[folder.name, "status"] == "diverged"
    assert records.at[folder.name, "detail"].endswith("tune_mse")


@pytest.mark.parametrize(
    ("split", "key", "value", "reason"),
    [
        ("test", "pearson", True, "splits.test.pearson = true: expected a number"),
        ("test", "pearson", "high", 'splits.test.pearson = "high": expected a number'),
        ("test", "pearson", 1.5, "splits.test.pearson = 1.5: outside its possible range -1..1"),
        ("tune", "mse", -0.1, "splits.tune.mse = -0.1: outside its possible range >= 0"),
        ("tune", "mse", 1e308, "splits.tune.mse = 1e+308: outside its possible range"),
        ("test", "r2", 2.0, "splits.test.r2 = 2.0: outside its possible range <= 1"),
        ("test", "top20_overlap", 1.2, "splits.test.top20_overlap = 1.2: outside"),
        ("test", "n", 3.5, "splits.test.n = 3.5: expected an integer >= 0"),
        ("test", "n", -1, "splits.test.n = -1: expected an integer >= 0"),
        ("test", "ndcg100", [1], "splits.test.ndcg100 = list: expected a number"),
    ],
)
def test_impossible_metrics_make_the_job_corrupt(tmp_path: Path, split, key, value, reason) -> None:
    folder = write_job_folder(tmp_path, synthetic_configs()[0], rng=np.random.default_rng(0))
    rewrite_metrics(folder, lambda m: m["splits"][split].update({key: value}))
    record = collect(tmp_path).records.iloc[0]
    assert record["status"] == "corrupt"
    assert record["detail"].startswith(f"metrics.json {reason}"), record["detail"]


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN"])
def test_non_json_numbers_make_the_job_corrupt(tmp_path: Path, literal: str) -> None:
    folder = write_job_folder(tmp_path, synthetic_configs()[0], rng=np.random.default_rng(0))
    text = (folder / jobfiles.METRICS).read_text()
    pearson = json.loads(text)["splits"]["test"]["pearson"]
    (folder / jobfiles.METRICS).write_text(text.replace(f"{pearson}", literal, 1))
    write_manifest(folder, folder.name, "test")
    record = collect(tmp_path).records.iloc[0]
    assert record["status"] == "corrupt"
    assert f"holds {literal}, which is not a JSON number" in record["detail"]


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("early_stopped", 1, "early_stopped = 1: expected true or false"),
        ("epochs_run", True, "epochs_run = true: expected an integer >= 0"),
        ("peak_memory_mb", 1e300, "peak_memory_mb = 1e+300: outside its possible range"),
        ("best_epoch", 10_000, "best_epoch 10000 > epochs_run"),
    ],
)
def test_impossible_top_level_values(tmp_path: Path, key, value, reason) -> None:
    folder = write_job_folder(tmp_path, synthetic_configs()[0], rng=np.random.default_rng(0))
    rewrite_metrics(folder, lambda m: m.update({key: value}))
    record = collect(tmp_path).records.iloc[0]
    assert record["status"] == "corrupt"
    assert reason in record["detail"], record["detail"]


@pytest.mark.parametrize(
    ("damage", "status", "detail"),
    [
        ({}, "corrupt", "empty folder"),
        ({jobfiles.CONFIG: "{}"}, "corrupt", "neither metrics.json nor error.json"),
        ({jobfiles.METRICS: ""}, "corrupt", "metrics.json is empty"),
        ({jobfiles.METRICS: "[1, 2]"}, "corrupt", "metrics.json not a JSON object"),
        ({jobfiles.ERROR: '{"type": "Val'}, "failed", "error.json is not valid JSON"),
        ({jobfiles.METRICS: "{}"}, "corrupt", "metrics.json lacks splits"),
    ],
)
def test_damaged_folders(tmp_path: Path, damage: dict[str, str], status: str, detail: str) -> None:
    folder = tmp_path / "linear-0123456789ab"
    folder.mkdir()
    for name, text in damage.items():
        (folder / name).write_text(text)
    record = collect(tmp_path).records.iloc[0]
    assert record["status"] == status
    assert record["detail"].startswith(detail)


def test_results_without_config_are_corrupt(results) -> None:
    folder, outcomes = results
    job = next(j for j, o in outcomes.items() if o == "ok")
    (folder / job / jobfiles.CONFIG).unlink()
    record = collect(folder).records.set_index("job_id").loc[job]
    assert record["status"] == "corrupt"
    assert record["detail"] == "config.json missing: parameters unknown"


def test_hidden_folders_and_files_are_not_jobs(results) -> None:
    folder, outcomes = results
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / "notes.txt").write_text("not a job")
    collection = collect(folder)
    assert collection.skipped == (".ipynb_checkpoints",)
    assert len(collection.records) == len(outcomes)


def test_second_collect_reads_only_new_or_changed_folders(results, tmp_path: Path) -> None:
    folder, outcomes = results
    first = collect(folder, cache=Cache.empty(folder))
    n_final = sum(o != "running" for o in outcomes.values())
    assert (first.n_read, first.n_cached) == (n_final, 0)
    assert "job_id" not in first.param_keys and "learning_rate" in first.param_keys

    cache_file = tmp_path / "cache.arrow"
    Cache.of(first, {}).save(cache_file)
    again = collect(folder, cache=Cache.load(cache_file, folder))
    # corrupt folders are read again every time: their files may still be arriving
    n_corrupt = sum(o in ("corrupt", "missing_keys") for o in outcomes.values())
    assert (again.n_read, again.n_cached) == (n_corrupt, n_final - n_corrupt)
    assert again.records.equals(first.records)

    changed = next(j for j, o in outcomes.items() if o == "ok")
    metrics = folder / changed / jobfiles.METRICS
    data = json.loads(metrics.read_text())
    data["splits"]["test"]["pearson"] = 0.123
    metrics.write_text(json.dumps(data))  # in place: same folder, new size and mtime
    write_manifest(folder / changed, changed, "again")
    stat = metrics.stat()
    os.utime(metrics, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    new = synthetic_configs(3, seeds=(99,), rng_seed=5)
    for flat in new:
        write_job_folder(folder, flat, rng=np.random.default_rng(0))
    third = collect(folder, cache=Cache.load(cache_file, folder))
    assert third.n_read == 1 + len(new) + n_corrupt
    assert third.records.set_index("job_id").at[changed, "test_pearson"] == 0.123
    assert len(third.records) == len(outcomes) + len(new)


def test_a_removed_folder_leaves_the_records(results) -> None:
    folder, outcomes = results
    first = collect(folder)
    gone = next(j for j, o in outcomes.items() if o == "ok")
    for file in (folder / gone).iterdir():
        file.unlink()
    (folder / gone).rmdir()
    second = collect(folder, cache=Cache.of(first, {}))
    assert gone not in set(second.records["job_id"])
    assert second.n_read == sum(o in ("corrupt", "missing_keys") for o in outcomes.values())


def test_a_cache_of_another_results_folder_is_ignored(results, tmp_path: Path) -> None:
    folder, _ = results
    first = collect(folder)
    cache_file = tmp_path / "cache.arrow"
    Cache.of(first, {}).save(cache_file)
    other = tmp_path / "other"
    other.mkdir()
    assert Cache.load(cache_file, other).signatures == {}
    cache_file.write_bytes(b"not a cache")
    damaged = Cache.load(cache_file, folder)
    assert damaged.signatures == {}
    assert damaged.note.startswith(f"{cache_file}: damaged cache ignored")


def test_worker_processes_read_the_same_records(tmp_path: Path) -> None:
    make_results(tmp_path / "results", 600, faults={"failed": 5, "corrupt": 5}, rng_seed=8)
    alone = collect(tmp_path / "results", workers=1)
    shared = collect(tmp_path / "results", workers=2)
    assert shared.records.equals(alone.records)
    assert shared.signatures == alone.signatures
    assert shared.param_keys == alone.param_keys


@pytest.mark.parametrize(
    ("cpus", "load", "folders", "expected"),
    [
        (2, 0.3, 20_000, 2),  # two idle cores: both read
        (2, 0.9, 20_000, 2),  # one of them idle, the other shared
        (2, 1.2, 20_000, 1),  # both busy: workers would cost more than they save
        (2, 0.3, 3_000, 1),  # too few folders to pay for the workers
        (16, 2.0, 20_000, 8),  # at most MAX_WORKERS
        (16, 13.6, 20_000, 2),  # what the load leaves idle
    ],
)
def test_workers_follow_the_idle_cpus(monkeypatch, cpus, load, folders, expected) -> None:
    from dmsweep.aggregate import collect as module

    monkeypatch.setattr(module.os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    monkeypatch.setattr(module.os, "getloadavg", lambda: (load, load, load))
    assert module._workers(folders) == expected


def test_a_progress_bar_only_where_asked(results, capsys: pytest.CaptureFixture[str]) -> None:
    """progress=True always draws the bar (on stderr); False and a small folder never do (no
    tqdm at all: collect then uses a bar that does nothing)."""
    folder, _ = results
    collect(folder, progress=True, workers=1)
    assert "reading job folders" in capsys.readouterr().err
    for progress in (False, None):  # None: only for 2,000+ folders on a terminal
        collect(folder, progress=progress, workers=1)
        assert capsys.readouterr().err == ""


def test_a_rerun_merges_cached_and_new_records_sorted_by_folder(results) -> None:
    """The cached records of unchanged folders and the re-read ones, in folder-name order,
    whether the rerun read none, some or all folders again."""
    folder, _ = results
    first = collect(folder, workers=1)
    cache = Cache(folder, first.param_keys, first.signatures, first.records)
    nothing_new = collect(folder, cache=cache, workers=1)
    assert nothing_new.records.index.tolist() == sorted(first.records.index.tolist())
    rng = np.random.default_rng(3)
    for flat in synthetic_configs(3, seeds=(77,), rng_seed=4):
        write_job_folder(folder, flat, rng=rng)
    some_new = collect(folder, cache=cache, workers=1)
    assert some_new.n_read >= 3 and some_new.n_cached > 0
    assert some_new.records.index.tolist() == sorted(some_new.records.index.tolist())
    assert len(some_new.records) == len(first.records) + 3
    all_new = collect(folder, cache=Cache.empty(folder), workers=1)
    assert all_new.records.index.tolist() == some_new.records.index.tolist()
    merged = some_new.records  # columns in first-seen order: the cached ones first
    pd.testing.assert_frame_equal(merged, all_new.records[merged.columns])
