"""An existing run folder: its manifest, trainings, queue lines and which trainings have results."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from dmsweep.core.jobscsv import read_jobs_csv
from dmsweep.core.logs import stderr_tails
from dmsweep.core.queuefile import QueueLine, read_queue
from dmsweep.core.results import Verdict, judge_folder
from dmsweep.core.runfiles import RunPaths
from dmsweep.core.runmanifest import RunManifest
from dmsweep.errors import DmsweepError

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
    def manifest(self) -> RunManifest:
        return RunManifest.read(self.paths.manifest)

    @cached_property
    def batch_of(self) -> dict[str, str]:
        """job_id -> batch_id, in jobs.csv order (reused trainings included)."""
        table = read_jobs_csv(self.paths.jobs_csv)
        if table.problems:  # a batch could be resubmitted twice, or a training forgotten
            raise DmsweepError(f"{table.problems[0]}; rebuild the run folder or repair the file")
        return table.batch_of()

    @cached_property
    def queue(self) -> list[QueueLine]:
        """The lines of queue.txt: every batch as built."""
        return read_queue(self.paths.queue)

    def verdicts(self, job_ids: Iterable[str] | None = None) -> dict[str, Verdict]:
        """job_id -> what results/<job_id>/ holds now (the one definition of a valid result,
        dmsweep.core.results), for the folders present."""
        present = _entries(self.paths.results)
        wanted = present if job_ids is None else present.intersection(job_ids)
        return {j: judge_folder(self.paths.results / j) for j in wanted}

    def completed(self, job_ids: Iterable[str] | None = None) -> set[str]:
        """Job ids with valid results in results/<job_id>/."""
        return {j for j, v in self.verdicts(job_ids).items() if v.valid_for(j)}

    def failed(self, job_ids: Iterable[str] | None = None) -> dict[str, str]:
        """job_id -> one-line reason, for results/<job_id>/ without a valid result: the
        training's error (error.json) or why its folder is not a result (corrupt), then the
        tail of its batch's stderr log (what error.json cannot tell: a crash, a kill)."""
        bad = {j: v for j, v in self.verdicts(job_ids).items() if not v.valid_for(j)}
        batch_of = self.batch_of
        tails = stderr_tails(self.paths.logs, {j: batch_of[j] for j in bad if j in batch_of})
        out = {}
        for job_id, verdict in bad.items():
            reason = _shorten(verdict.detail or f"not a result of {job_id}")
            out[job_id] = reason + (f"; stderr: {tails[job_id]}" if job_id in tails else "")
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

    def preflight_line(self, queue: Sequence[QueueLine] | None = None) -> QueueLine:
        """The preflight job: the first training of each model type (trained for one epoch),
        with the largest request of the sweep (of `queue`, default the whole queue)."""
        queue = self.queue if queue is None else queue
        firsts: dict[str, Any] = {}
        for line in queue:
            for config in line.configs:
                firsts.setdefault(config["model"], config)
        if not firsts:
            raise DmsweepError(f"{self.paths.queue}: no trainings queued, nothing to preflight")
        biggest = max(queue, key=lambda line: (line.memory_mb, line.cpus))
        return QueueLine(
            batch_id=PREFLIGHT_BATCH,
            cpus=biggest.cpus,
            memory_mb=biggest.memory_mb,
            disk_mb=max(line.disk_mb for line in queue),
            gpus=biggest.gpus,
            req=biggest.req,
            configs=tuple(firsts.values()),
        )

    def preflight_lines(self) -> tuple[QueueLine, ...]:
        """One preflight job per environment the queue uses (the CPU one, and the GPU one of
        `environment.gpu`), each over the lines that run in it: a GPU environment that does
        not import is found before the sweep goes out, as a CPU one is."""
        if self.manifest.gpu_environment is None:
            return (self.preflight_line(),)
        groups: dict[str, list[QueueLine]] = {}
        for line in self.queue:
            groups.setdefault(self.manifest.requirement_environments[line.req], []).append(line)
        return tuple(self.preflight_line(lines) for _, lines in sorted(groups.items()))


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _entries(folder: Path) -> set[str]:
    try:
        return {e.name for e in os.scandir(folder) if not e.name.startswith(".")}
    except FileNotFoundError:
        return set()
