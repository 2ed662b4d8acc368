"""Every file name of a run folder, defined once (written by the builder, read by the rest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESULTS = "results"
JOBS_CSV = "jobs.csv"
"""One row per training: job_id, batch_id, then every flat config parameter."""
QUEUE = "queue.txt"
"""One line per HTCondor job (a batch of trainings), read by the submit file's `queue ... from`."""
SUBMIT = "sweep.sub"
WRAPPER = "run_job.sh"
README = "README.md"
SPEC_COPY = "spec.yaml"
MANIFEST = "manifest.json"
"""What was built, from which spec, commit and data checksums, and the environment reference."""
LOGS = "logs"
EVENTS_LOG = "logs/events.log"
"""The HTCondor job event log of every submission of this run."""
SUBMISSIONS = "submissions.json"
"""Each submission: cluster id, time, and the batch ids in proc order (proc i -> batches[i])."""
CODE = "code"
DATA = "data"
ENV = "env"
PREFLIGHT = "preflight"
"""Outputs of the preflight job (not results: its trainings run one epoch only)."""
PREFLIGHT_REPORT = "preflight.json"
"""Inside PREFLIGHT: import and data-loading times of the preflight job."""
SCRATCH = ".scratch"
"""Scratch folders of `run_builder run-local` (removed after each batch)."""


@dataclass(frozen=True)
class RunPaths:
    """The paths of one run folder, so no caller spells a file name itself."""

    root: Path

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    @property
    def jobs_csv(self) -> Path:
        return self.root / JOBS_CSV

    @property
    def queue(self) -> Path:
        return self.root / QUEUE

    @property
    def submit_file(self) -> Path:
        return self.root / SUBMIT

    @property
    def wrapper(self) -> Path:
        return self.root / WRAPPER

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def logs(self) -> Path:
        return self.root / LOGS

    @property
    def events_log(self) -> Path:
        return self.root / EVENTS_LOG

    @property
    def submissions(self) -> Path:
        return self.root / SUBMISSIONS

    @property
    def preflight(self) -> Path:
        return self.root / PREFLIGHT

    @property
    def scratch(self) -> Path:
        return self.root / SCRATCH

    def is_run_folder(self) -> bool:
        return self.jobs_csv.is_file() and self.results.is_dir()
