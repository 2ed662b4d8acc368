"""A training that kills its process (abort, segfault, SIGKILL as the out-of-memory killer
sends it) does not take the rest of its batch with it: the real job wrapper, run by run-local,
records an error.json for it and trains the others, in one process while nothing crashes."""

from __future__ import annotations

import json

import pytest
from run_specs import write_spec

from dmsweep.core.results import is_valid_result
from dmsweep.jobfiles import JobPaths
from dmsweep.run_builder import local
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.local import run_batch
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.status import run_status
from dmsweep.train.jobs import CRASH_TYPE, FAULT_ENV

pytestmark = pytest.mark.slow


def test_crashing_trainings_leave_error_json_and_the_batch_goes_on(tmp_path, data_dir, monkeypatch):
    spec = write_spec(
        tmp_path / "tiny.yaml",
        models={"linear": {"fixed": {"split": "random", "max_variants": 2000}}},
        replicates={"seed": [1, 2, 3, 4, 5]},
        trainings_per_job=5,
    )
    run = Run.open(build_run(spec, BuildOptions(runs_dir=tmp_path, data_dir=data_dir, name="r")))
    (line,) = run.queue
    ok1, aborts, segfaults, killed, ok2 = line.job_ids
    faults = {aborts: "abort", segfaults: "segfault", killed: "kill"}
    monkeypatch.setenv(FAULT_ENV, ",".join(f"{j}={f}" for j, f in faults.items()))
    monkeypatch.setattr(local, "PASSED_ENV", (*local.PASSED_ENV, FAULT_ENV))

    outcome = run_batch(run, line)

    stderr = outcome.log.read_text()
    assert outcome.returncode == 1, stderr
    assert (outcome.done, outcome.failed) == (2, 3)
    for job_id in (ok1, ok2):
        assert is_valid_result(run.paths.results / job_id, job_id), stderr
    for job_id, signal in ((aborts, "SIGABRT"), (segfaults, "SIGSEGV"), (killed, "SIGKILL")):
        job = JobPaths(run.paths.results / job_id)
        assert job.error.is_file() and not job.metrics.exists()
        error = json.loads(job.error.read_text())
        assert error["type"] == CRASH_TYPE and error["signal"] == signal
        assert error["exit_code"] < 0 and signal in error["message"]
        assert json.loads(job.config.read_text())["job_id"] == job_id
        assert job.provenance.is_file()  # what the training had written before it died
    assert (
        "Fatal Python error: Segmentation fault"
        in json.loads(JobPaths(run.paths.results / segfaults).error.read_text())["stderr_tail"]
    )
    # one process, then one more per crash: never one per training
    assert stderr.count("dmsweep-batch:") == 3
    assert not list(run.paths.results.glob(".tmp-*"))
    counts = run_status(run).counts()
    assert (counts["done"], counts["failed"]) == (2, 3)
