"""Reading job folders: one record per folder whatever its state, and the incremental cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from dmsweep import jobfiles
from dmsweep.aggregate.collect import Cache, collect, read_job_folder
from dmsweep.aggregate.synthetic import make_results, synthetic_configs, write_job_folder


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


def test_null_metrics_mean_diverged_and_odd_values_are_noted(tmp_path: Path) -> None:
    """The trainer writes NaN as null; a non-number where a number belongs is kept as NaN."""
    flat = synthetic_configs()[0]
    folder = write_job_folder(tmp_path, flat, rng=np.random.default_rng(0))
    metrics = json.loads((folder / jobfiles.METRICS).read_text())
    metrics["splits"]["tune"]["mse"] = None
    (folder / jobfiles.METRICS).write_text(json.dumps(metrics))
    other = write_job_folder(tmp_path, synthetic_configs()[1], rng=np.random.default_rng(1))
    metrics = json.loads((other / jobfiles.METRICS).read_text())
    metrics["splits"]["test"]["pearson"] = "high"
    (other / jobfiles.METRICS).write_text(json.dumps(metrics))

    records = collect(tmp_path).records.set_index("job_id")
    assert records.at[folder.name, "status"] == "diverged"
    assert records.at[other.name, "status"] == "ok"
    assert np.isnan(records.at[other.name, "test_pearson"])
    assert "test_pearson='high' is not a number" in records.at[other.name, "notes"]


@pytest.mark.parametrize(
    ("damage", "status", "detail"),
    [
        ({}, "corrupt", "empty folder"),
        ({jobfiles.CONFIG: "{}"}, "corrupt", "neither metrics.json nor error.json"),
        ({jobfiles.METRICS: ""}, "corrupt", "metrics.json is empty"),
        ({jobfiles.METRICS: "[1, 2]"}, "corrupt", "metrics.json not a JSON object"),
        ({jobfiles.ERROR: '{"type": "Val'}, "failed", "error.json is not valid JSON"),
        ({jobfiles.METRICS: "{}"}, "corrupt", "metrics.json lacks epochs_run"),
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

    cache_file = tmp_path / "cache.pkl"
    Cache.of(first, {}).save(cache_file)
    again = collect(folder, cache=Cache.load(cache_file, folder))
    assert (again.n_read, again.n_cached) == (0, n_final)
    assert again.records.equals(first.records)

    changed = next(j for j, o in outcomes.items() if o == "ok")
    metrics = folder / changed / jobfiles.METRICS
    data = json.loads(metrics.read_text())
    data["splits"]["test"]["pearson"] = 0.123
    metrics.write_text(json.dumps(data))  # in place: same folder, new size and mtime
    stat = metrics.stat()
    os.utime(metrics, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    new = synthetic_configs(3, seeds=(99,), rng_seed=5)
    for flat in new:
        write_job_folder(folder, flat, rng=np.random.default_rng(0))
    third = collect(folder, cache=Cache.load(cache_file, folder))
    assert third.n_read == 1 + len(new)
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
    assert second.n_read == 0


def test_a_cache_of_another_results_folder_is_ignored(results, tmp_path: Path) -> None:
    folder, _ = results
    first = collect(folder)
    cache_file = tmp_path / "cache.pkl"
    Cache.of(first, {}).save(cache_file)
    other = tmp_path / "other"
    other.mkdir()
    assert Cache.load(cache_file, other).signatures == {}
    cache_file.write_bytes(b"not a pickle")
    assert Cache.load(cache_file, folder).signatures == {}


def test_worker_processes_read_the_same_records(tmp_path: Path) -> None:
    make_results(tmp_path / "results", 600, faults={"failed": 5, "corrupt": 5}, rng_seed=8)
    alone = collect(tmp_path / "results", workers=1)
    shared = collect(tmp_path / "results", workers=2)
    assert shared.records.equals(alone.records)
    assert shared.signatures == alone.signatures
    assert shared.param_keys == alone.param_keys
