"""An existing run folder: its manifest, trainings, queue lines and which trainings have results."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from dmsweep.errors import DmsweepError
from dmsweep.jobfiles import JobPaths
from dmsweep.run_builder.queuefile import QueueLine, read_queue
from dmsweep.run_builder.runfiles import RunPaths

PREFLIGHT_BATCH = "preflight"


@dataclass(frozen=True)
class Run:
    paths: RunPaths

    @classmethod
    def open(cls, path: Path | str) -> Run:
        paths = RunPaths(Path(path).resolve())
        if not paths.is_run_folder() or not paths.queue.is_file():
            raise DmsweepError(
                f"{path}: not a run folder (expected {paths.jobs_csv.name}, "
                f"{paths.queue.name} and {paths.results.name}/; build one with run_builder SPEC)"
            )
        return cls(paths)

    @property
    def name(self) -> str:
        return self.paths.root.name

    @cached_property
    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.paths.manifest.read_text())
        except (OSError, ValueError) as err:
            raise DmsweepError(f"{self.paths.manifest}: unreadable manifest: {err}") from None

    @cached_property
    def batch_of(self) -> dict[str, str]:
        """job_id -> batch_id, in jobs.csv order (reused trainings included)."""
        with open(self.paths.jobs_csv, newline="", encoding="utf-8") as stream:
            reader = csv.reader(stream)
            header = next(reader)
            job, batch = header.index("job_id"), header.index("batch_id")
            return {row[job]: row[batch] for row in reader if row}

    @cached_property
    def queue(self) -> list[QueueLine]:
        """The lines of queue.txt: every batch as built."""
        return read_queue(self.paths.queue)

    def completed(self, job_ids: Iterable[str] | None = None) -> set[str]:
        """Job ids with valid results (metrics.json and config.json in results/<job_id>/)."""
        present = _entries(self.paths.results)
        wanted = present if job_ids is None else present.intersection(job_ids)
        return {j for j in wanted if JobPaths(self.paths.results / j).is_complete()}

    def failed(self, job_ids: Iterable[str] | None = None) -> dict[str, str]:
        """job_id -> one-line error summary, for results/<job_id>/ holding error.json only."""
        present = _entries(self.paths.results)
        wanted = present if job_ids is None else present.intersection(job_ids)
        out = {}
        for job_id in wanted:
            job = JobPaths(self.paths.results / job_id)
            if job.is_failed():
                out[job_id] = error_summary(job.error)
        return out

    def pending_lines(self, exclude: Iterable[str] = ()) -> list[QueueLine]:
        """Queue lines reduced to trainings without valid results (and not in `exclude`)."""
        skip = self.completed() | set(exclude)
        lines = []
        for line in self.queue:
            configs = [c for c in line.configs if c["job_id"] not in skip]
            if configs:
                lines.append(line.with_configs(configs))
        return lines

    def preflight_line(self) -> QueueLine:
        """The preflight job: the first training of each model type (trained for one epoch),
        with the largest request of the sweep."""
        firsts: dict[str, Any] = {}
        for line in self.queue:
            for config in line.configs:
                firsts.setdefault(config["model"], config)
        if not firsts:
            raise DmsweepError(f"{self.paths.queue}: no trainings queued, nothing to preflight")
        biggest = max(self.queue, key=lambda line: (line.memory_mb, line.cpus))
        return QueueLine(
            batch_id=PREFLIGHT_BATCH,
            cpus=biggest.cpus,
            memory_mb=biggest.memory_mb,
            disk_mb=max(line.disk_mb for line in self.queue),
            gpus=biggest.gpus,
            req=biggest.req,
            configs=tuple(firsts.values()),
        )


def error_summary(path: Path, limit: int = 200) -> str:
    try:
        error = json.loads(path.read_text())
        text = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    except (OSError, ValueError) as err:
        text = f"unreadable {path.name}: {err}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _entries(folder: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(folder) if not e.name.startswith(".")}
    except FileNotFoundError:
        return set()
