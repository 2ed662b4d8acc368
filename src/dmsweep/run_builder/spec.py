"""Sweep specs (YAML): load and validate everything before a single file is written.

The format is documented with examples in docs/sweep-spec.md. `load_spec` returns a frozen
`SweepSpec`; `dmsweep.run_builder.expand` turns it into trainings and HTCondor batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmsweep.errors import ConfigError

ENV_STRATEGIES: tuple[str, ...] = ("tarball", "wheelhouse", "container", "shared")
SAMPLE_METHODS: tuple[str, ...] = ("sobol", "random")


@dataclass(frozen=True)
class Resources:
    """What one HTCondor job asks for (request_cpus, request_memory in MB, request_disk in MB)."""

    cpus: int = 1
    memory_mb: int = 2048
    disk_mb: int = 4096
    gpus: int = 0
    requirements: str | None = None


@dataclass(frozen=True)
class EnvironmentSpec:
    """How the job gets its Python: see docs/sweep-spec.md#environment."""

    strategy: str = "tarball"
    image: str | None = None


@dataclass(frozen=True)
class Range:
    """One sampled dimension: uniform (or log-uniform) over [low, high], or a choice."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Samples:
    """`n` random or Sobol points over `ranges`, drawn from `seed`; each point is one combination."""

    method: str
    n: int
    seed: int
    ranges: Mapping[str, Range]


@dataclass(frozen=True)
class Axis:
    """One grid axis: a key and its values, optionally only `when` other keys have given values."""

    key: str
    values: tuple[Any, ...]
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    role: str = "grid"  # "grid" | "replicate" | "resample"


@dataclass(frozen=True)
class Block:
    """One model block: the trainings of one model type (a model may have several blocks)."""

    model: str
    fixed: Mapping[str, Any]
    axes: tuple[Axis, ...]
    samples: Samples | None
    where: str  # key path in the spec, for error messages, e.g. "models.cnn[1]"


@dataclass(frozen=True)
class SweepSpec:
    name: str
    path: Path
    trainings_per_job: int
    environment: EnvironmentSpec
    resources: Mapping[str, Resources]
    """Per model type, plus "default"; use `resources_for(model)`."""
    max_idle: int | None
    max_materialize: int | None
    preflight: bool
    seed: int
    """The sampling seed of the top-level `samples` (0 when the spec samples nothing)."""
    dataset: str = "avgfp"
    description: str = ""
    blocks: tuple[Block, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)
    """The parsed YAML as written, for copying into the run folder's manifest."""

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.model for b in self.blocks))

    def resources_for(self, model: str) -> Resources:
        return self.resources.get(model, self.resources["default"])


def load_spec(path: Path | str) -> SweepSpec:
    """Read and validate a sweep spec; raises ConfigError("<file>: <key path>: <problem>")."""
    raise ConfigError(f"{path}: load_spec is not implemented yet")
