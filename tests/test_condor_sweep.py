"""Real jobs through the personal HTCondor pool: a small sweep, and faults repaired by resubmit.

Needs the pool: `scripts/personal-condor.sh start` (CI starts it before pytest).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from condor_pool import condor_pool  # noqa: F401  (a fixture)
from run_specs import SMALL_SPLIT, WEIRD_SPLIT, weird_data_dir, write_spec

from dmsweep.core.events import PERSONAL_CONFIG, htcondor_bindings, read_condor_records
from dmsweep.core.results import is_valid_result
from dmsweep.core.submissions import read_submissions
from dmsweep.jobfiles import JobPaths
from dmsweep.run_builder import condor
from dmsweep.run_builder.cli import main
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.resubmit import resubmit
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.status import RunStatus, run_status
from dmsweep.run_builder.submit import submit_run

pytestmark = [pytest.mark.condor, pytest.mark.slow, pytest.mark.usefixtures("condor_pool")]


def _wait(run: Run, done: Callable[[RunStatus], bool], timeout_s: float = 300) -> RunStatus:
    deadline = time.monotonic() + timeout_s
    while True:
        status = run_status(run)
        if done(status):
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; last status {status.counts()}")
        time.sleep(2)


def _wait_records(run: Run, done: Callable[[dict], bool], timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_condor_records(run.paths.root)
        if done(records):
            return records
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; records {records}")
        time.sleep(0.5)


def _dry_run(root: Path) -> tuple[str, str]:
    """(stdout, job ads) of `condor_submit -dry-run` in the run folder, as a user runs it."""
    tool = shutil.which("condor_submit") or "/opt/htcondor/usr/bin/condor_submit"
    env = {**os.environ, "CONDOR_CONFIG": os.environ.get("CONDOR_CONFIG", str(PERSONAL_CONFIG))}
    command = [tool, "-dry-run", "ads.txt", "sweep.sub"]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout, (root / "ads.txt").read_text()


def test_submit_file_works_by_hand(tmp_path, data_dir):
    """condor_submit in the run folder reads sweep.sub and its queue.txt as they are."""
    spec = write_spec(tmp_path / "tiny.yaml")
    root = build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="r"))
    stdout, ads = _dry_run(root)
    assert "2 job(s) dry-run" in stdout
    assert 'DmsweepBatch="b000001"' in ads and 'DmsweepBatch="b000002"' in ads
    assert "RequestMemory=2000" in ads and 'TransferOutput="results"' in ads


def test_gpu_minimums_reach_the_job_ads_of_their_model_type_only(tmp_path, data_dir):
    """resources.<model>.gpus_minimum_capability/_memory become HTCondor's GPUsMinCapability,
    GPUsMinMemory and RequireGPUs for that model type's jobs, and nothing for the others."""
    gpu = {"gpus": 1, "gpus_minimum_capability": 8.0, "gpus_minimum_memory": 40960}
    spec = write_spec(tmp_path / "tiny.yaml", resources={"default": {"cpus": 1}, "fc": gpu})
    root = build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="r"))
    ads = {}
    for block in _dry_run(root)[1].split("\n\n"):
        batch = re.search(r'DmsweepBatch="(b\d+)"', block)
        if batch:
            ads[batch[1]] = block
    jobs = {line.split(",")[0]: line for line in (root / "jobs.csv").read_text().splitlines()[1:]}
    fc_batches = {line.split(",")[1] for line in jobs.values() if ",fc," in f",{line},"}
    assert fc_batches and set(ads) > fc_batches
    for batch, ad in ads.items():
        on_gpu = batch in fc_batches
        assert ("GPUsMinCapability=8.0" in ad) is on_gpu, ad
        assert ("GPUsMinMemory=40960" in ad) is on_gpu
        assert ("RequestGPUs=1" in ad) is on_gpu


def test_small_sweep_through_the_pool(tmp_path, data_dir, monkeypatch):
    """4 real trainings, 2 per job, one on a split named with quotes and `$(`: all come back."""
    data = weird_data_dir(tmp_path, data_dir)
    monkeypatch.setenv("DMSWEEP_DATA_DIR", str(data))
    spec = write_spec(
        tmp_path / "tiny.yaml",
        models={
            "linear": [
                {"fixed": {"split": "random", "max_variants": 2000}},
                {"fixed": {"split": WEIRD_SPLIT}},
            ]
        },
    )
    run = Run.open(build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", name="pool")))
    submission = submit_run(run, preflight=False)
    assert submission.batches == ("b000001", "b000002")
    status = _wait(run, lambda s: s.finished)
    assert status.counts()["done"] == 4, status.counts()
    for job_id, batch in run.batch_of.items():
        job = JobPaths(run.paths.results / job_id)
        assert (
            is_valid_result(job.root, job.job_id)
            and job.model_file.is_file()
            and job.predictions.is_file()
        )
        provenance = json.loads(job.provenance.read_text())
        assert provenance["condor"]["cluster"] == submission.cluster
        assert provenance["condor"]["batch"] == batch
    splits = {
        json.loads((run.paths.results / j / "config.json").read_text())["split"]
        for j in run.batch_of
    }
    assert splits == {"random", WEIRD_SPLIT}
    # results can arrive a moment before the schedd writes the job's terminate event
    records = _wait_records(
        run, lambda r: len(r) == 2 and all(x.state != "running" for x in r.values())
    )
    assert set(records) == {"b000001", "b000002"}
    for record in records.values():
        assert record.state == "terminated" and record.exit_code == 0
        assert record.wall_time_s is not None and record.wall_time_s > 0
        assert record.memory_mb and record.host


def test_held_removed_and_failed_jobs_are_reported_and_resubmitted(tmp_path, data_dir, capsys):
    """Hold one job and remove another mid-run, let one training fail (its split file is
    missing); status says so; resubmit completes the set; a second resubmit adds nothing."""
    spec = write_spec(
        tmp_path / "faults.yaml",
        models={
            "linear": [
                {
                    "fixed": {"split": "random", "max_variants": 2000},
                    "grid": {"seed": [1, 2, 3, 4]},
                },
                {"fixed": {"split": SMALL_SPLIT, "seed": 1}},
            ],
            "fc": {
                "fixed": {"units": 8, "layers": 1, "split": "random", "max_variants": 2000},
                "grid": {"seed": [1, 2]},
            },
        },
        replicates=None,
    )
    root = build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="f"))
    run = Run.open(root)
    trainings = {
        b: [j for j, bb in run.batch_of.items() if bb == b] for b in set(run.batch_of.values())
    }
    assert sorted(len(v) for v in trainings.values()) == [1, 2, 2, 2]  # b3: the small split
    missing_file = root / "data" / "avgfp" / "splits" / SMALL_SPLIT / "tune.txt"
    missing_file.unlink()

    cluster = submit_run(run, preflight=False).cluster
    # hold b1 and remove b2 while each is running (two slots: they start first)
    _wait_records(run, lambda r: r["b000001"].state == "running")
    condor.hold([(cluster, 0)], reason="dmsweep test: memory usage exceeded request_memory")
    _wait_records(run, lambda r: r["b000002"].state == "running")
    condor.remove([(cluster, 1)], reason="dmsweep test: removed mid-run")
    status = _wait(run, lambda s: s.finished)

    by_state = {t.job_id: t for t in status.trainings}
    assert {by_state[j].state for j in trainings["b000001"]} == {"held"}
    assert all("memory usage exceeded" in by_state[j].detail for j in trainings["b000001"])
    assert {by_state[j].state for j in trainings["b000002"]} == {"missing"}
    assert all("removed" in by_state[j].detail for j in trainings["b000002"])
    (failed,) = trainings["b000003"]
    assert by_state[failed].state == "failed" and "tune.txt" in by_state[failed].detail
    assert {by_state[j].state for j in trainings["b000004"]} == {"done"}
    records = read_condor_records(root)
    assert records["b000003"].exit_code == 2 and records["b000002"].state == "aborted"
    capsys.readouterr()
    assert main(["status", str(root)]) == 0
    shown = capsys.readouterr().out
    assert "7 trainings: 2 done, 2 held, 1 failed, 2 missing" in shown
    assert "batches: 4: 1 done, 1 held, 1 failed, 1 missing" in shown
    assert re.search(rf"b000001\s+{cluster}\.0\s+held\s+2\s+dmsweep test: memory", shown)
    assert re.search(rf"b000002\s+{cluster}\.1\s+missing\s+2\s+job {cluster}\.1 was removed", shown)
    kept = {j: (root / "results" / j / "metrics.json").read_bytes() for j in trainings["b000004"]}

    os.link(data_dir / "avgfp" / "splits" / SMALL_SPLIT / "tune.txt", missing_file)
    plan = resubmit(run, log=print)
    assert plan.remove == ((cluster, 0),)
    assert plan.trainings == 5 and len(plan.lines) == 3
    assert "memory 2000 -> 4000 MB" in plan.grown["b000001"]
    again = resubmit(run, log=print)  # everything missing is queued now: nothing to add
    assert again.lines == () and again.live == 5
    submissions = read_submissions(run.paths)
    assert [s.kind for s in submissions] == ["sweep", "resubmit"]
    assert submissions[1].requests["b000001"]["memory_mb"] == 4000

    status = _wait(run, lambda s: s.finished)
    assert status.counts()["done"] == 7, status.counts()
    assert all(is_valid_result(root / "results" / j, j) for j in run.batch_of)
    assert sorted(p.name for p in (root / "results").iterdir()) == sorted(run.batch_of)
    assert kept == {j: (root / "results" / j / "metrics.json").read_bytes() for j in kept}
    assert condor.queued_jobs([cluster]) == []
    records = read_condor_records(root)
    assert {records[b].cluster for b in ("b000001", "b000002", "b000003")} == {
        submissions[1].cluster
    }
    assert records["b000004"].cluster == cluster


def test_a_throttled_cluster_is_never_queued_twice(tmp_path, data_dir):
    """max_materialize 1: the job factory holds 3 of 4 jobs back. While it lives, status counts
    them idle and resubmit leaves them alone; once the cluster is removed they are missing
    (no event of theirs will ever come) and resubmit queues them again."""
    spec = write_spec(
        tmp_path / "throttled.yaml",
        models={"linear": {"fixed": {"split": "random", "max_variants": 2000}}},
        replicates={"seed": [1, 2, 3, 4]},
        trainings_per_job=1,
        submit={"max_idle": 1, "max_materialize": 1},
    )
    root = build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="t"))
    run = Run.open(root)
    cluster = submit_run(run, preflight=False).cluster
    queued = condor.queued_jobs([cluster])
    assert sorted(j.status for j in queued).count(condor.UNMATERIALISED) == 3, queued
    plan = resubmit(run, dry_run=True, log=print)
    assert plan.lines == () and plan.live == 4
    counts = run_status(run).counts()
    assert counts["idle"] + counts["running"] + counts["done"] == 4, counts

    schedd = htcondor_bindings().Schedd()
    schedd.act(htcondor_bindings().JobAction.Remove, f"ClusterId == {cluster}", reason="test")
    status = _wait(run, lambda s: s.finished, timeout_s=120)
    counts = status.counts()
    assert counts["idle"] == counts["running"] == 0, counts
    missing = [t for t in status.trainings if t.state == "missing"]
    assert len(missing) >= 3 and all("was removed" in t.detail for t in missing), missing
    plan = resubmit(run, dry_run=True, log=print)
    assert plan.live == 0 and plan.trainings == len(missing)
