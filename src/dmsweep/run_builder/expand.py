"""A validated SweepSpec -> trainings (deduplicated by job id) -> batches -> a rough estimate.

Expansion order is the spec's order and stable: model blocks as written; within a block,
resample axes, then spec-level grid axes, the block's grid axes, spec-level samples, the
block's samples and replicate axes innermost (an axis with a `when` condition comes after the
axes it depends on). A configuration that equals an earlier one (same job id) is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dmsweep.config import DatabaseDataset, TrainConfig, flat_keys, seed_job_ids
from dmsweep.errors import ConfigError
from dmsweep.run_builder._spec_values import DEFAULTS
from dmsweep.run_builder.spec import Axis, Block, Resources, SweepSpec

MAX_TRAININGS = 1_000_000
"""Default cap of `run_builder --max-trainings`: a bigger expansion is refused with its count."""


@dataclass(frozen=True)
class PlannedTraining:
    job_id: str
    config: TrainConfig
    resources: Resources

    @property
    def flat(self) -> dict[str, Any]:
        return self.config.to_flat()


@dataclass(frozen=True)
class PlannedBatch:
    """One HTCondor job: trainings run in sequence; `batch_id` is "b000001"-style, stable."""

    batch_id: str
    trainings: tuple[PlannedTraining, ...]
    resources: Resources


# --------------------------------------------------------------------------- expansion


def expand(
    spec: SweepSpec,
    *,
    dataset: str | DatabaseDataset | None = None,
    max_trainings: int = MAX_TRAININGS,
) -> list[PlannedTraining]:
    """Every training of the spec, in a stable order, identical configs collapsed to one.

    `dataset` is what the configs name (default: the spec's `dataset:` as written; the plan
    passes the card's name so that jobs read the run folder's copy of the card, or a
    collection with the checksum read at build time).
    Raises ConfigError("<file>: <key path>: <problem>") for a combination that is not a valid
    TrainConfig, for a `when:` condition that never holds, for more than `max_trainings`
    combinations (before building them) and for a spec that yields no trainings.
    """
    out: dict[str, PlannedTraining] = {}
    shared_points = spec.samples.points() if spec.samples else ()
    applied: set[int] = set()
    total = 0
    for block in spec.blocks:
        resources = spec.resources_for(block.model)
        fixed, combos = _block_combos(
            spec, block, shared_points, dataset or spec.dataset, applied, (total, max_trainings)
        )
        _check_room(spec, block, len(combos), (total, max_trainings))  # a block without axes
        total += len(combos)
        configs = _Configs(fixed, block.where)
        for combo in combos:
            try:
                job, config = configs.build(combo)
            except ConfigError as err:
                shown = ", ".join(f"{k}={v}" for k, v in combo.items())
                suffix = f" (combination: {shown})" if shown else ""
                raise ConfigError(f"{spec.path}: {err}{suffix}") from None
            if job not in out:
                out[job] = PlannedTraining(job, config, resources)
    _check_conditions_held(spec, applied)
    if not out:
        raise ConfigError(f"{spec.path}: models: the spec yields no trainings")
    return list(out.values())


class _Configs:
    """`TrainConfig.from_flat` of a block's combinations, once per combination without its seed.

    Replicate seeds are the innermost axis: thousands of trainings differ only in the seed,
    so their validated sections are shared and only the seed is new (and so is only the
    seed's part of the job id's hash: `seed_job_ids`).
    """

    def __init__(self, fixed: Mapping[str, Any], where: str) -> None:
        self.fixed = fixed
        self.where = where
        self.bases: dict[tuple[Any, ...], tuple[TrainConfig, Callable[[int], str]]] = {}

    def build(self, combo: Mapping[str, Any]) -> tuple[str, TrainConfig]:
        """(job id, config) of one combination."""
        key = tuple((k, v) for k, v in combo.items() if k != "seed")
        found = self.bases.get(key)
        if found is None:
            flat = {**self.fixed, **combo}
            flat.pop("seed", None)
            base = TrainConfig.from_flat(flat, source=self.where)
            found = self.bases[key] = (base, seed_job_ids(base))
        base, job_id = found
        seed = combo.get("seed", self.fixed.get("seed"))
        if seed is None or seed == base.seed:
            return job_id(base.seed), base
        config = TrainConfig(params=base.params, data=base.data, optim=base.optim, seed=seed)
        return job_id(config.seed), config


def _check_conditions_held(spec: SweepSpec, applied: set[int]) -> None:
    """A `when:` axis that applied to no combination of any block is a mistake, not a no-op."""
    for axis in (*spec.axes, *(a for b in spec.blocks for a in b.axes)):
        if axis.when and id(axis) not in applied:
            shown = ", ".join(f"{k} in {list(v)}" for k, v in axis.when.items())
            raise ConfigError(
                f"{spec.path}: {axis.where}.when: this condition never holds ({shown}): "
                f"the {axis.key} axis would be ignored"
            )


@dataclass(frozen=True)
class _Points:
    """A pseudo-axis: the drawn points of a `samples` section, restricted to some keys."""

    points: tuple[dict[str, Any], ...]


def _block_combos(
    spec: SweepSpec,
    block: Block,
    shared_points: tuple[dict[str, Any], ...],
    dataset: str | DatabaseDataset,
    applied: set[int],
    room: tuple[int, int],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A block's fixed flat keys, and the axis/sample values of every combination.

    Records in `applied` the id of every conditional axis that applied at least once;
    `room` is (trainings of earlier blocks, --max-trainings): more combinations than that
    allows are refused before they are built.
    """
    model = block.model
    valid = set(flat_keys(model))
    own = block.set_keys()
    fixed: dict[str, Any] = {"model": model, "dataset": dataset}
    fixed.update({k: v for k, v in spec.fixed.items() if k in valid and k not in own})
    fixed.update(block.fixed)

    def shared(role: str) -> list[Axis]:
        return [a for a in spec.axes if a.role == role and a.key in valid and a.key not in own]

    dims: list[Axis | _Points] = [*shared("resample"), *shared("grid"), *block.axes]
    if spec.samples is not None:
        keep = [k for k in spec.samples.ranges if k in valid and k not in own]
        if keep:
            dims.append(_Points(tuple({k: p[k] for k in keep} for p in shared_points)))
    if block.samples is not None:
        dims.append(_Points(block.samples.points()))
    dims.extend(shared("replicate"))
    dims = _order_by_conditions(dims, spec, block)

    defaults = DEFAULTS[model]
    combos: list[dict[str, Any]] = [{}]
    for dim in dims:
        grown: list[dict[str, Any]] = []
        if isinstance(dim, _Points):
            _check_room(spec, block, len(combos) * len(dim.points), room)
            for combo in combos:
                grown.extend({**combo, **point} for point in dim.points)
        else:
            holds = [
                not dim.when or _holds(dim.when, model, fixed, combo, defaults, valid)
                for combo in combos
            ]
            if any(holds) and dim.when:
                applied.add(id(dim))
            _check_room(spec, block, len(combos) + sum(holds) * (len(dim.values) - 1), room)
            for combo, held in zip(combos, holds, strict=True):
                if held:
                    grown.extend({**combo, dim.key: value} for value in dim.values)
                else:
                    grown.append(combo)
        combos = grown
    return fixed, combos


def _check_room(spec: SweepSpec, block: Block, count: int, room: tuple[int, int]) -> None:
    done, limit = room
    if done + count > limit:
        raise ConfigError(
            f"{spec.path}: {block.where}: the spec expands to at least {done + count:,} "
            f"trainings, more than --max-trainings {limit:,} (reduce the axes, or raise it)"
        )


def _holds(
    when: Mapping[str, tuple[Any, ...]],
    model: str,
    fixed: Mapping[str, Any],
    combo: Mapping[str, Any],
    defaults: Mapping[str, Any],
    valid: set[str],
) -> bool:
    for key, allowed in when.items():
        if key == "model":
            value: Any = model
        elif key in combo:
            value = combo[key]
        elif key in fixed:
            value = fixed[key]
        elif key in valid:
            value = defaults.get(key)
        else:
            return False
        if value not in allowed:
            return False
    return True


def _order_by_conditions(
    dims: list[Axis | _Points], spec: SweepSpec, block: Block
) -> list[Axis | _Points]:
    """Stable topological order: an axis comes after every axis its condition refers to."""
    provides: dict[str, set[int]] = {}
    for i, dim in enumerate(dims):
        keys = dim.points[0].keys() if isinstance(dim, _Points) and dim.points else ()
        for key in [dim.key] if isinstance(dim, Axis) else keys:
            provides.setdefault(key, set()).add(i)
    deps = {
        i: {j for key in dim.when for j in provides.get(key, ()) if j != i}
        if isinstance(dim, Axis)
        else set()
        for i, dim in enumerate(dims)
    }
    placed: list[int] = []
    remaining = list(range(len(dims)))
    while remaining:
        for i in remaining:
            if deps[i] <= set(placed):
                placed.append(i)
                remaining.remove(i)
                break
        else:
            cycle = [dims[i] for i in remaining if isinstance(dims[i], Axis)]
            names = ", ".join(f"{a.key} ({a.where})" for a in cycle)  # type: ignore[union-attr]
            raise ConfigError(f"{spec.path}: {block.where}: conditions form a cycle: {names}")
    return [dims[i] for i in placed]


# --------------------------------------------------------------------------- batches


def plan_batches(
    trainings: Sequence[PlannedTraining], per_job: int | Mapping[str, int]
) -> list[PlannedBatch]:
    """Group trainings into HTCondor jobs of at most `per_job` trainings.

    `per_job` is one number or a mapping model type -> number with a "default" entry
    (`SweepSpec.trainings_per_job_by_model`).

    A batch holds one model type and one resource class only (so its request fits every
    training in it and run times within a batch are alike). Groups keep the order in which
    they first appear; batch ids run b000001, b000002 ... in that order.
    """
    sizes = dict(per_job) if isinstance(per_job, Mapping) else {"default": per_job}
    sizes.setdefault("default", 1)
    for key, size in sizes.items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"trainings_per_job: {key}: expected an integer >= 1, got {size!r}")
    groups: dict[tuple[str, Resources], list[PlannedTraining]] = {}
    for training in trainings:
        groups.setdefault((training.config.model, training.resources), []).append(training)
    batches: list[PlannedBatch] = []
    for (model, resources), members in groups.items():
        size = sizes.get(model, sizes["default"])
        for start in range(0, len(members), size):
            batches.append(
                PlannedBatch(
                    batch_id=f"b{len(batches) + 1:06d}",
                    trainings=tuple(members[start : start + size]),
                    resources=resources,
                )
            )
    return batches
