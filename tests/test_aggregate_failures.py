"""Jobs without a valid result: the reason from the folder, the HTCondor record or jobs.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dmsweep.aggregate.collect import collect
from dmsweep.aggregate.failures import failure_table, job_states
from dmsweep.aggregate.runinfo import RunInfo, find_run_folder, read_run_info
from dmsweep.aggregate.synthetic import batch_of, make_run_folder
from dmsweep.aggregate.table import summary_table
from dmsweep.core.events import CondorRecord
from dmsweep.core.runfiles import RunPaths

FAULTS = {"failed": 1, "diverged": 1, "corrupt": 1, "running": 2, "never_ran": 6}


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    outcomes = make_run_folder(tmp_path / "run", faults=FAULTS)
    return tmp_path / "run", outcomes


def record(batch: str, state: str, **kwargs) -> CondorRecord:
    values = {
        "cluster": 12,
        "proc": int(batch[1:]),
        "exit_code": None,
        "hold_reason": None,
        "evictions": 0,
        "wall_time_s": None,
        "memory_mb": None,
        "host": "node3",
    }
    values.update(kwargs)
    return CondorRecord(batch_id=batch, state=state, **values)


def with_condor(run_dir: Path, records: dict[str, CondorRecord]) -> RunInfo:
    info = read_run_info(run_dir)
    return RunInfo(info.root, info.jobs, records, True, info.warnings)


def test_run_folder_is_found_from_itself_or_its_results(run) -> None:
    run_dir, _ = run
    assert find_run_folder(run_dir) == (RunPaths(run_dir).results, run_dir)
    assert find_run_folder(run_dir / "results") == (RunPaths(run_dir).results, run_dir)
    assert find_run_folder(run_dir.parent) == (run_dir.parent, None)


def test_without_condor_missing_jobs_never_ran(run) -> None:
    run_dir, outcomes = run
    states = job_states(collect(RunPaths(run_dir).results).records, read_run_info(run_dir))
    table = states.table
    assert len(table) == len(outcomes)
    never = [j for j, o in outcomes.items() if o == "never_ran"]
    assert set(table.index[table["outcome"].eq("never ran")]) == set(never)
    assert table.loc[never[0], "detail"] == "no job folder; no HTCondor event log to say more"
    n_ok = sum(o == "ok" for o in outcomes.values())
    assert states.completeness() == (
        f"{n_ok}/{len(outcomes)} trainings done, 1 failed, 1 diverged, 1 corrupt, "
        "2 running, 6 never ran"
    )


def test_condor_states_explain_missing_folders(run) -> None:
    run_dir, outcomes = run
    never = [j for j, o in outcomes.items() if o == "never_ran"]
    running = [j for j, o in outcomes.items() if o == "running"]
    batches = {job: batch_of(outcomes, job) for job in never + running}
    records = {
        batches[never[0]]: record(batches[never[0]], "held", hold_reason="Memory limit 2 GB"),
        batches[never[1]]: record(batches[never[1]], "idle", evictions=2),
        batches[never[2]]: record(batches[never[2]], "idle"),
        batches[never[3]]: record(batches[never[3]], "terminated", exit_code=1),
        batches[never[4]]: record(batches[never[4]], "aborted"),
        batches[running[0]]: record(batches[running[0]], "held", hold_reason="disk full"),
    }
    # the never-ran jobs must sit in batches of their own for this test to mean anything
    assert len({batches[j] for j in never[:5] + running[:1]}) == 6
    info = with_condor(run_dir, records)
    table = job_states(collect(info.root / "results").records, info).table
    assert table.loc[never[0], "outcome"] == "held"
    assert table.loc[never[0], "detail"].endswith("is held: Memory limit 2 GB")
    assert table.loc[never[1], "outcome"] == "evicted"
    assert table.loc[never[2], "outcome"] == "idle"
    assert table.loc[never[3], "outcome"] == "failed"
    assert "exit code 1 but left no job folder" in table.loc[never[3], "detail"]
    assert table.loc[never[4], "outcome"] == "aborted"
    assert table.loc[never[5], "outcome"] == "never ran"
    assert "never submitted" in table.loc[never[5], "detail"]
    # a .tmp- folder left by a held job is not "running"
    assert table.loc[running[0], "outcome"] == "held"
    assert "partial folder .tmp-" in table.loc[running[0], "detail"]
    assert table.loc[running[1], "outcome"] == "running"


def test_a_final_folder_wins_over_the_condor_record(run) -> None:
    run_dir, outcomes = run
    ok = next(j for j, o in outcomes.items() if o == "ok")
    batch = batch_of(outcomes, ok)
    info = with_condor(run_dir, {batch: record(batch, "held", hold_reason="x")})
    table = job_states(collect(info.root / "results").records, info).table
    assert table.loc[ok, "outcome"] == "ok"


def test_failure_table_lists_reason_condor_and_parameters(run) -> None:
    run_dir, outcomes = run
    never = next(j for j, o in outcomes.items() if o == "never_ran")
    failed = next(j for j, o in outcomes.items() if o == "failed")
    info = with_condor(
        run_dir,
        {
            batch_of(outcomes, failed): record(
                batch_of(outcomes, failed), "terminated", exit_code=1, memory_mb=1800.0
            )
        },
    )
    collection = collect(info.root / "results")
    states = job_states(collection.records, info)
    table = failure_table(states, collection.records, collection.param_keys, info)
    assert list(table.columns[:6]) == ["job_id", "reason", "detail", "model", "folder", "batch_id"]
    assert len(table) == sum(o != "ok" for o in outcomes.values())
    rows = table.set_index("job_id")
    assert rows.at[failed, "condor_exit_code"] == 1
    assert rows.at[failed, "condor_memory_mb"] == 1800.0
    # parameters of a job that never ran come from jobs.csv
    assert rows.at[never, "model"] == never.split("-")[0]
    assert str(rows.at[never, "learning_rate"]) in {"0.0001", "0.001"}
    assert list(table["reason"]) == sorted(
        table["reason"],
        key=[
            "failed",
            "diverged",
            "corrupt",
            "held",
            "evicted",
            "aborted",
            "running",
            "idle",
            "never ran",
        ].index,
    )


def test_summary_rows_carry_their_batch_record(run) -> None:
    run_dir, outcomes = run
    ok = next(j for j, o in outcomes.items() if o == "ok")
    batch = batch_of(outcomes, ok)
    info = with_condor(
        run_dir, {batch: record(batch, "running", wall_time_s=None, memory_mb=950.5)}
    )
    collection = collect(info.root / "results")
    summary = summary_table(collection.records, collection.param_keys, info.root / "results", info)
    row = summary.set_index("job_id").loc[ok]
    assert row["batch_id"] == batch
    assert row["condor_state"] == "running"
    assert row["condor_memory_mb"] == 950.5
    assert row["condor_host"] == "node3"
    other = summary.set_index("job_id").drop(index=ok)
    assert other["condor_state"].isna().sum() >= 1


def test_a_broken_jobs_csv_is_a_warning(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "results").mkdir(parents=True)
    RunPaths(run_dir).jobs_csv.write_text("id,batch\nx,y\n")
    info = read_run_info(run_dir)
    assert info.jobs.empty
    assert "no job_id or batch_id column in the header" in info.warnings[0]
    RunPaths(run_dir).jobs_csv.write_text("job_id,batch_id\na-0123456789ab,b1\nshort\n")
    info = read_run_info(run_dir)
    assert list(info.jobs.index) == ["a-0123456789ab"]
    assert "wrong number of fields (lines 3)" in info.warnings[0]


def test_a_damaged_event_log_is_a_warning(run) -> None:
    run_dir, _ = run
    paths = RunPaths(run_dir)
    paths.logs.mkdir(exist_ok=True)
    paths.events_log.write_text("000 (garbage\n")
    paths.submissions.write_text("{not json")
    info = read_run_info(run_dir)
    assert info.condor == {}
    assert any("events.log not read" in w for w in info.warnings)
    assert isinstance(info.jobs, pd.DataFrame) and len(info.jobs)


def test_a_rerun_in_progress_does_not_hide_a_finished_result(run) -> None:
    run_dir, outcomes = run
    ok = next(j for j, o in outcomes.items() if o == "ok")
    (RunPaths(run_dir).results / f".tmp-{ok}-abc123").mkdir()
    states = job_states(collect(RunPaths(run_dir).results).records, read_run_info(run_dir))
    assert states.table.loc[ok, "outcome"] == "ok"
    assert len(states.table) == len(outcomes)
