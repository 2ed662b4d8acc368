"""One definition of a valid result: the trainer, the run folder, run-local and aggregate agree.

Before it, `Run.completed()` counted a folder with a truncated metrics.json as done (so
resubmit and run-local never requeued it) while aggregate called it corrupt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmsweep import jobfiles
from dmsweep.aggregate.collect import TRAINED, collect
from dmsweep.aggregate.synthetic import make_run_folder
from dmsweep.core.results import (
    FileManifest,
    build_manifest,
    is_valid_result,
    judge_folder,
    verify_files,
    write_manifest,
)
from dmsweep.errors import JobFolderError
from dmsweep.jobfiles import JobPaths
from dmsweep.run_builder.local import _collect
from dmsweep.run_builder.run import Run
from dmsweep.train.outputs import JobFolder
from dmsweep.train.predict import read_job_config


def _truncate_metrics(job: Path) -> None:
    text = (job / jobfiles.METRICS).read_text()
    (job / jobfiles.METRICS).write_text(text[: len(text) // 2])


def _no_manifest(job: Path) -> None:
    (job / jobfiles.MANIFEST).unlink()


def _history_still_arriving(job: Path) -> None:
    text = (job / jobfiles.HISTORY).read_text()
    (job / jobfiles.HISTORY).write_text(text[:10])


def _metrics_of_another_attempt(job: Path) -> None:
    metrics = json.loads((job / jobfiles.METRICS).read_text())
    metrics["splits"]["test"]["pearson"] = 0.5
    (job / jobfiles.METRICS).write_text(json.dumps(metrics))


def _pearson_true(job: Path) -> None:
    metrics = json.loads((job / jobfiles.METRICS).read_text())
    metrics["splits"]["test"]["pearson"] = True
    (job / jobfiles.METRICS).write_text(json.dumps(metrics))
    write_manifest(job, job.name, "forged")


def _manifest_of_another_job(job: Path) -> None:
    write_manifest(job, "linear-ffffffffffff", "other")


def _untouched(job: Path) -> None:
    pass


DAMAGES: list[tuple[Callable[[Path], None], bool, str]] = [
    (_untouched, True, ""),
    (_truncate_metrics, False, "metrics.json is not valid JSON"),
    (_no_manifest, False, "incomplete: no manifest.json"),
    (_history_still_arriving, False, "incomplete: history.csv has 10 of"),
    (_metrics_of_another_attempt, False, "incomplete: metrics.json does not match manifest.json"),
    (_pearson_true, False, "metrics.json splits.test.pearson = true: expected a number"),
    (_manifest_of_another_job, False, "manifest.json job_id 'linear-ffffffffffff' is not"),
]


@pytest.mark.parametrize(
    ("damage", "valid", "detail"), DAMAGES, ids=lambda d: getattr(d, "__name__", None)
)
def test_every_reader_agrees(tmp_path: Path, damage, valid: bool, detail: str) -> None:
    run_dir = tmp_path / "run"
    outcomes = make_run_folder(run_dir, 8, batch_size=4)
    (run_dir / "queue.txt").write_text("")
    job = sorted(outcomes)[0]
    damage(run_dir / "results" / job)

    run = Run.open(run_dir)
    records = collect(run_dir / "results").records.set_index("folder")
    assert is_valid_result(run_dir / "results" / job, job) is valid  # trainer: skip or train
    assert (job in run.completed()) is valid  # status, resubmit, run-local
    assert (records.at[job, "status"] in TRAINED) is valid  # aggregate
    if not valid:
        assert records.at[job, "detail"].startswith(detail), records.at[job, "detail"]
        assert run.failed()[job].startswith(detail[:60])


def test_run_local_collect_replaces_an_invalid_folder_only(tmp_path: Path) -> None:
    """_collect never replaces a valid result, and moves a new one over a truncated one."""
    run_dir = tmp_path / "run"
    outcomes = make_run_folder(run_dir, 2, batch_size=2)
    first, second = sorted(outcomes)
    scratch = tmp_path / "scratch"
    make_run_folder(scratch, 2, batch_size=2)  # the same two configs, freshly trained
    _truncate_metrics(run_dir / "results" / first)
    done, failed = _collect(scratch / "results", run_dir / "results", (first, second))
    assert (done, failed) == (1, 0)  # `second` was valid already: kept, not counted again
    assert is_valid_result(run_dir / "results" / first, first)


def test_the_trainer_writes_the_manifest_last(tmp_path: Path) -> None:
    folder = JobFolder(tmp_path, "linear-0123456789ab")
    folder.write_config({"model": "linear"})
    folder.model_file.parent.mkdir()
    folder.model_file.write_bytes(b"weights" * 100)
    final = folder.publish()
    manifest = FileManifest.from_json(json.loads((final / jobfiles.MANIFEST).read_text()))
    assert manifest.job_id == "linear-0123456789ab" and manifest.attempt == folder.attempt
    assert set(manifest.files) == {jobfiles.CONFIG, f"{jobfiles.MODEL_DIR}/{jobfiles.MODEL_FILE}"}
    assert manifest == build_manifest(final, manifest.job_id, manifest.attempt)
    assert verify_files(final, manifest, full=True) is None
    model = final / jobfiles.MODEL_DIR / jobfiles.MODEL_FILE
    model.write_bytes(b"Weights" * 100)  # same size, other content: only the hash sees it
    assert verify_files(final, manifest, full=False) is None
    assert "model/model.keras does not match its checksum" in verify_files(
        final, manifest, full=True
    )


@pytest.mark.parametrize(
    "name", ["../outside", "/etc/passwd", "a/../../b", "", "./config.json", "a\\b"]
)
def test_a_manifest_naming_files_outside_the_folder_is_refused(tmp_path: Path, name) -> None:
    job = tmp_path / "linear-0123456789ab"
    job.mkdir()
    (job / jobfiles.MANIFEST).write_text(
        json.dumps(
            {
                "format": 1,
                "job_id": job.name,
                "attempt": "x",
                "files": {name: {"sha256": "0" * 64, "bytes": 1}},
            }
        )
    )
    with pytest.raises(ValueError, match="not a path inside the job folder"):
        FileManifest.from_json(json.loads((job / jobfiles.MANIFEST).read_text()))
    assert judge_folder(job).status == "corrupt"


def _predictable(tmp_path: Path) -> JobPaths:
    run_dir = tmp_path / "run"
    outcomes = make_run_folder(run_dir, 1)
    paths = JobPaths(run_dir / "results" / next(iter(outcomes)))
    paths.model_dir.mkdir()
    paths.model_file.write_bytes(np.arange(64, dtype=np.int8).tobytes())
    write_manifest(paths.root, paths.job_id, "with-model")
    return paths


def test_predict_reads_a_valid_folder_with_its_model(tmp_path: Path) -> None:
    paths = _predictable(tmp_path)
    assert read_job_config(paths).job_id == paths.job_id


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.model_file.write_bytes(np.arange(64, 128, dtype=np.int8).tobytes()),
         "model/model.keras does not match its checksum in manifest.json; refusing"),
        (lambda p: p.manifest.unlink(), "no valid result (incomplete: no manifest.json"),
        (lambda p: _truncate_metrics(p.root), "no valid result (metrics.json is not valid JSON"),
        (lambda p: write_manifest(p.root, p.job_id, "model-added-later")
         if p.model_file.unlink() is None else None, "model/model.keras: not listed in"),
    ],
)  # fmt: skip
def test_predict_refuses_what_is_not_the_trained_model(tmp_path: Path, damage, message) -> None:
    paths = _predictable(tmp_path)
    damage(paths)
    with pytest.raises(JobFolderError) as error:
        read_job_config(paths)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_symlink_loop_is_a_problem_of_that_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    outcomes = make_run_folder(run_dir, 3)
    job = sorted(outcomes)[0]
    metrics = run_dir / "results" / job / jobfiles.METRICS
    metrics.unlink()
    metrics.symlink_to(metrics)
    (run_dir / "results" / "loop").symlink_to(run_dir / "results" / "loop")
    verdict = judge_folder(run_dir / "results" / job)
    assert verdict.status == "corrupt" and "unreadable (Too many levels" in verdict.detail
    records = collect(run_dir / "results").records
    assert (records["status"] == "ok").sum() == 2


def test_a_failed_jobs_error_carries_its_stderr_tail(tmp_path: Path) -> None:
    """status (Run.failed) and failures.csv show the end of the batch's stderr log."""
    from dmsweep.aggregate import aggregate
    from dmsweep.aggregate.synthetic import batch_of

    run_dir = tmp_path / "run"
    outcomes = make_run_folder(run_dir, 8, batch_size=4, faults={"failed": 1})
    (run_dir / "queue.txt").write_text("")
    job = next(j for j, o in outcomes.items() if o == "failed")
    logs = run_dir / "logs"
    logs.mkdir()
    batch = batch_of(outcomes, job)
    (logs / f"{batch}.7.err").write_text("old attempt\n")
    os.utime(logs / f"{batch}.7.err", ns=(1, 1))
    (logs / f"{batch}.8.err").write_text(
        "Traceback (most recent call last):\n  ...\n\n"
        "tensorflow.errors.ResourceExhaustedError: OOM\nKilled\n"
    )
    detail = Run.open(run_dir).failed()[job]
    assert detail.startswith("ResourceExhaustedError: OOM when allocating")
    assert detail.endswith("; stderr: ... | tensorflow.errors.ResourceExhaustedError: OOM | Killed")
    aggregate(run_dir, plots=False, report=False)
    failures = pd.read_csv(run_dir / "summary" / "failures.csv").set_index("job_id")
    assert (
        failures.at[job, "stderr_tail"]
        == "... | tensorflow.errors.ResourceExhaustedError: OOM | Killed"
    )
