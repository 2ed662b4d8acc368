"""A validated SweepSpec -> trainings (deduplicated by job id) -> batches -> a rough estimate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dmsweep.config import TrainConfig
from dmsweep.run_builder.spec import Resources, SweepSpec


@dataclass(frozen=True)
class PlannedTraining:
    job_id: str
    config: TrainConfig
    resources: Resources


@dataclass(frozen=True)
class PlannedBatch:
    """One HTCondor job: trainings run in sequence; `batch_id` is "b000001"-style, stable."""

    batch_id: str
    trainings: tuple[PlannedTraining, ...]
    resources: Resources


@dataclass(frozen=True)
class Estimate:
    """Rough cost of a sweep, for `run_builder SPEC --dry-run` (see docs/sweep-spec.md)."""

    trainings_per_model: Mapping[str, int]
    jobs_per_model: Mapping[str, int]
    """HTCondor jobs (batches) per model type."""
    cpu_hours_per_model: Mapping[str, float]
    disk_mb_per_model: Mapping[str, float]

    @property
    def trainings(self) -> int:
        return sum(self.trainings_per_model.values())

    @property
    def jobs(self) -> int:
        return sum(self.jobs_per_model.values())

    @property
    def cpu_hours(self) -> float:
        return sum(self.cpu_hours_per_model.values())

    @property
    def disk_mb(self) -> float:
        return sum(self.disk_mb_per_model.values())

    def lines(self) -> list[str]:
        """Human-readable table lines for --dry-run."""
        raise NotImplementedError


def expand(spec: SweepSpec) -> list[PlannedTraining]:
    """Every training of the spec, in a stable order, identical configs collapsed to one."""
    raise NotImplementedError


def plan_batches(trainings: Sequence[PlannedTraining], per_job: int) -> list[PlannedBatch]:
    """Group trainings into HTCondor jobs of at most `per_job`; never mixes resource classes."""
    raise NotImplementedError


def estimate(trainings: Sequence[PlannedTraining], per_job: int = 1) -> Estimate:
    raise NotImplementedError
