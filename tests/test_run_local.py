"""run_builder run-local: the run's own job wrapper on a tiny real sweep, no pool needed."""

from __future__ import annotations

import json
import re

import pytest
from run_specs import SMALL_SPLIT, WEIRD_SPLIT, weird_data_dir, write_spec

from dmsweep.core.results import is_valid_result
from dmsweep.jobfiles import JobPaths
from dmsweep.run_builder.cli import main
from dmsweep.run_builder.folder import REUSED_BATCH, BuildOptions, build_run
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.status import run_status

pytestmark = pytest.mark.slow


def test_run_local_end_to_end(tmp_path, data_dir, monkeypatch, capsys):
    """3 real trainings (one on a split whose name holds quotes, `$(`, `;`): complete folders."""
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
        replicates={"seed": [1, 2]},
        trainings_per_job=2,
    )
    runs = tmp_path / "runs"
    assert main([str(spec), "-o", str(runs), "--name", "local"]) == 0
    run = Run.open(runs / "local")
    job_ids = list(run.batch_of)
    assert len(job_ids) == 4

    assert main(["run-local", str(run.paths.root), "-j", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "4 trainings: 4 done" in out
    for job_id in job_ids:
        job = JobPaths(run.paths.results / job_id)
        assert is_valid_result(job.root, job_id), job_id
        for path in (job.predictions, job.history, job.provenance, job.model_file):
            assert path.is_file(), path
        config = json.loads(job.config.read_text())
        assert config["job_id"] == job_id
        history = job.history.read_text().strip().splitlines()
        assert len(history) == 1 + 2  # header + max_epochs
        provenance = json.loads(job.provenance.read_text())
        assert provenance["condor"]["batch"] == run.batch_of[job_id]
        assert provenance["git_commit"] == run.manifest.git_commit
    splits = {
        json.loads(JobPaths(run.paths.results / j).config.read_text())["split"] for j in job_ids
    }
    assert splits == {"random", WEIRD_SPLIT}
    assert not run.paths.scratch.exists()
    assert run_status(run).counts()["done"] == 4

    # again: nothing left to run, nothing touched
    stamps = {j: (run.paths.results / j / "metrics.json").stat().st_mtime_ns for j in job_ids}
    assert main(["run-local", str(run.paths.root), "--no-progress"]) == 0
    assert stamps == {
        j: (run.paths.results / j / "metrics.json").stat().st_mtime_ns for j in job_ids
    }

    # a rebuilt spec reuses the valid results instead of queueing them again
    again = build_run(
        spec,
        BuildOptions(runs_dir=runs, data_dir=data, name="again", reuse_results=[run.paths.root]),
    )
    rebuilt = Run.open(again)
    assert rebuilt.queue == []
    assert set(rebuilt.batch_of.values()) == {REUSED_BATCH}
    assert rebuilt.completed() == set(job_ids)
    assert run_status(rebuilt).counts()["done"] == 4


def test_run_local_reports_a_failed_training(tmp_path, data_dir, capsys):
    """A training whose split file is missing fails with error.json; the rest completes."""
    spec = write_spec(
        tmp_path / "tiny.yaml",
        models={
            "linear": [
                {"fixed": {"split": "random", "max_variants": 2000}},
                {"fixed": {"split": SMALL_SPLIT}},
            ]
        },
        replicates={"seed": [1]},
    )
    root = build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="r"))
    (root / "data" / "avgfp" / "splits" / SMALL_SPLIT / "tune.txt").unlink()
    assert main(["run-local", str(root), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "2 trainings: 1 done" in out and "1 failed" in out
    assert re.search(r"failed .*tune\.txt", out)
