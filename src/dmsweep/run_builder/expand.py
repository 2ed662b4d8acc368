"""A validated SweepSpec -> trainings (deduplicated by job id) -> batches -> a rough estimate.

Expansion order is the spec's order and stable: model blocks as written; within a block,
resample axes, then spec-level grid axes, the block's grid axes, spec-level samples, the
block's samples and replicate axes innermost (an axis with a `when` condition comes after the
axes it depends on). A configuration that equals an earlier one (same job id) is dropped.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from dmsweep.config import (
    MODEL_PARAMS,
    DataConfig,
    OptimConfig,
    TrainConfig,
    flat_keys,
)
from dmsweep.errors import ConfigError
from dmsweep.run_builder._spec_values import DEFAULTS
from dmsweep.run_builder.spec import Axis, Block, Resources, SweepSpec


@dataclass(frozen=True)
class PlannedTraining:
    job_id: str
    config: TrainConfig
    resources: Resources
    _flat: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def flat(self) -> dict[str, Any]:
        """`config.to_flat()` (a fresh copy), without recomputing it from the dataclasses."""
        if self._flat is None:
            object.__setattr__(self, "_flat", self.config.to_flat())
        return {k: list(v) if type(v) is list else v for k, v in self._flat.items()}  # type: ignore[union-attr]


@dataclass(frozen=True)
class PlannedBatch:
    """One HTCondor job: trainings run in sequence; `batch_id` is "b000001"-style, stable."""

    batch_id: str
    trainings: tuple[PlannedTraining, ...]
    resources: Resources


# --------------------------------------------------------------------------- expansion


def expand(spec: SweepSpec) -> list[PlannedTraining]:
    """Every training of the spec, in a stable order, identical configs collapsed to one.

    Raises ConfigError("<file>: <key path>: <problem>") for a combination that is not a valid
    TrainConfig and for a spec that yields no trainings. `load_spec` already expands (and
    caches) once, so this is free for a loaded spec.
    """
    if spec._trainings is not None:
        return list(spec._trainings)
    return _expand_all(spec)


@dataclass(frozen=True)
class _Points:
    """A pseudo-axis: the drawn points of a `samples` section, restricted to some keys."""

    points: tuple[dict[str, Any], ...]


def _expand_all(spec: SweepSpec) -> list[PlannedTraining]:
    out: dict[str, PlannedTraining] = {}
    shared_points = spec.samples.points() if spec.samples else ()
    builder = _ConfigBuilder()
    for index, block in enumerate(spec.blocks):
        resources = spec.resources_for(block.model)
        fixed, combos = _block_combos(spec, block, shared_points)
        for combo in combos:
            try:
                config, job, flat = builder.build(index, fixed, combo, source=block.where)
            except ConfigError as err:
                shown = ", ".join(f"{k}={v}" for k, v in combo.items())
                suffix = f" (combination: {shown})" if shown else ""
                raise ConfigError(f"{spec.path}: {err}{suffix}") from None
            if job not in out:
                out[job] = PlannedTraining(job, config, resources, flat)
    if not out:
        raise ConfigError(f"{spec.path}: models: the spec yields no trainings")
    return list(out.values())


class _ConfigBuilder:
    """`TrainConfig.from_flat` and its `job_id`, memoised per config section.

    Tens of thousands of trainings share a handful of distinct model, data and optimiser
    sections. Each distinct section is built once through `TrainConfig.from_flat` (with all
    its validation); later configs reuse the validated section objects, and their job id is
    hashed from cached canonical section parts exactly as `dmsweep.config.job_id` does. Every
    slow-path build cross-checks that hash against `TrainConfig.job_id` and falls back to the
    plain path for good on any difference; tests/test_spec_expand.py checks both paths agree.
    """

    def __init__(self) -> None:
        self.names = {
            model: tuple(
                frozenset(f.name for f in fields(cls))
                for cls in (MODEL_PARAMS[model], DataConfig, OptimConfig)
            )
            for model in MODEL_PARAMS
        }
        self.layouts: dict[tuple[Any, ...], tuple[tuple[str, ...], ...] | None] = {}
        self.sections: dict[tuple[Any, ...], _Section] = {}
        self.prefixes: dict[tuple[Any, ...], int] = {}
        self.fast = True

    def _layout(self, fixed: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
        """Per section: (cache-key prefix, the combination keys it takes); None if a key
        belongs to no section. The prefix holds the section's fixed values, so data and
        optimiser sections are shared across model blocks."""
        model = fixed["model"]
        names = self.names[model]
        if not set(keys) <= set().union(*names) | {"model", "seed"}:
            return None
        layout = []
        for i in range(3):
            taken = tuple(k for k in keys if k in names[i])
            constant = tuple(
                (k, fixed[k]) for k in sorted(fixed) if k in names[i] and k not in taken
            )
            prefix = (i, model if i == 0 else "", constant, taken)
            layout.append((self.prefixes.setdefault(prefix, len(self.prefixes)), taken))
        return tuple(layout)

    def build(
        self, block: int, fixed: Mapping[str, Any], combo: Mapping[str, Any], *, source: str
    ) -> tuple[TrainConfig, str, dict[str, Any]]:
        model = fixed["model"]
        keys = tuple(combo)
        try:
            layout = self.layouts[(block, keys)]
        except KeyError:
            layout = self.layouts[(block, keys)] = self._layout(fixed, keys)
        seed = combo["seed"] if "seed" in combo else fixed.get("seed", 7)
        if layout is not None and self.fast and type(seed) is int:
            parts = [(prefix, tuple([combo[k] for k in taken])) for prefix, taken in layout]
            cached = [self.sections.get(p) for p in parts]
            if None not in cached:
                p, d, o = cached  # type: ignore[misc]
                config = TrainConfig(params=p.obj, data=d.obj, optim=o.obj, seed=seed)
                return config, _fast_job_id(model, seed, cached), _flat(model, seed, cached)
        config = TrainConfig.from_flat({**fixed, **combo}, source=source)
        job = config.job_id
        if layout is None or not self.fast or type(seed) is not int:
            return config, job, config.to_flat()
        built = [_section(obj) for obj in (config.params, config.data, config.optim)]
        if (
            _fast_job_id(model, config.seed, built) != job
            or _flat(model, config.seed, built) != config.to_flat()
        ):
            self.fast = False  # dmsweep.config changed how it flattens or hashes: plain path
            return config, job, config.to_flat()
        for part, section in zip(parts, built, strict=True):
            self.sections.setdefault(part, section)
        return config, job, _flat(model, config.seed, built)


@dataclass(frozen=True)
class _Section:
    """One validated config section: its job-id JSON fragments and its part of to_flat()."""

    obj: Any
    fragments: tuple[str, ...]
    """'"key":<canonical JSON>' per set field; sorting them sorts by key."""
    items: tuple[tuple[str, Any], ...]
    """(key, value) per set field as to_flat() has it (lists as tuples here)."""
    lists: tuple[str, ...]
    """Keys whose to_flat() value is a list."""


def _section(obj: Any) -> _Section:
    fragments, items, lists = [], [], []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if isinstance(value, tuple | list):
            lists.append(f.name)
            value = tuple(value)
        items.append((f.name, value))
        canonical = _canonical(list(value) if isinstance(value, tuple) else value)
        fragments.append(f"{json.dumps(f.name)}:{json.dumps(canonical, separators=(',', ':'))}")
    return _Section(obj, tuple(fragments), tuple(items), tuple(lists))


def _canonical(value: Any) -> Any:
    """As dmsweep.config: floats by repr, lists element-wise."""
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


_MODEL_FRAGMENTS = {model: f'"model":{json.dumps(model)}' for model in MODEL_PARAMS}


def _fast_job_id(model: str, seed: int, sections: list[_Section]) -> str:
    """`dmsweep.config.job_id` of the config: sha256 of its sorted compact canonical JSON."""
    fragments = [_MODEL_FRAGMENTS.get(model) or f'"model":{json.dumps(model)}', f'"seed":{seed:d}']
    for section in sections:
        fragments.extend(section.fragments)
    fragments.sort()
    text = "{" + ",".join(fragments) + "}"
    return f"{model}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _flat(model: str, seed: int, sections: list[_Section]) -> dict[str, Any]:
    """`TrainConfig.to_flat()` assembled from cached section parts."""
    items = [("model", model), ("seed", seed)]
    for section in sections:
        items.extend(section.items)
    items.sort()
    flat = dict(items)
    for section in sections:
        for key in section.lists:
            flat[key] = list(flat[key])
    return flat


def _block_combos(
    spec: SweepSpec, block: Block, shared_points: tuple[dict[str, Any], ...]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A block's fixed flat keys, and the axis/sample values of every combination."""
    model = block.model
    valid = set(flat_keys(model))
    own = block.set_keys()
    fixed: dict[str, Any] = {"model": model, "dataset": spec.dataset}
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
            for combo in combos:
                grown.extend({**combo, **point} for point in dim.points)
        else:
            for combo in combos:
                if dim.when and not _holds(dim.when, model, fixed, combo, defaults, valid):
                    grown.append(combo)
                    continue
                grown.extend({**combo, dim.key: value} for value in dim.values)
        combos = grown
    return fixed, combos


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


# --------------------------------------------------------------------------- estimate

# Rough cost model (docs/sweep-spec.md#estimates). Seconds per epoch on ONE core for the
# reference architecture, for REFERENCE_TRAIN training variants at batch 128, from the design
# notes' 2-core measurements (TF 2.15) scaled to one core.
REFERENCE_TRAIN = 51_714
SECONDS_PER_EPOCH = {"linear": 0.5, "fc": 2.0, "cnn": 20.0, "gcn": 15.0}
SEQUENCE_LENGTH = 237
ENCODING_WIDTH = {"one_hot": 21, "aa_index": 19}
DATASET_SIZE = 54_024
"""Variants of avGFP, used when a config does not cap them (other datasets: same guess)."""
TRAINING_OVERHEAD_S = 20.0
"""Per training: load data, build the model, evaluate, write outputs."""
JOB_OVERHEAD_S = 60.0
"""Per HTCondor job: transfer and unpack the environment, start Python, import TensorFlow."""
OUTPUT_FIXED_MB = 0.5
"""Per training: predictions, history, metrics, config and provenance files."""


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
        """A small table for --dry-run: one row per model type and a total."""
        rows = [f"{'model':<8} {'trainings':>10} {'jobs':>8} {'CPU-hours':>10} {'results':>10}"]
        for model in self.trainings_per_model:
            rows.append(
                f"{model:<8} {self.trainings_per_model[model]:>10,} "
                f"{self.jobs_per_model[model]:>8,} {self.cpu_hours_per_model[model]:>10,.1f} "
                f"{_size(self.disk_mb_per_model[model]):>10}"
            )
        rows.append(
            f"{'total':<8} {self.trainings:>10,} {self.jobs:>8,} {self.cpu_hours:>10,.1f} "
            f"{_size(self.disk_mb):>10}"
        )
        rows.append("(rough estimate: see docs/sweep-spec.md#estimates)")
        return rows


def estimate(
    trainings: Sequence[PlannedTraining], per_job: int | Mapping[str, int] = 1
) -> Estimate:
    """Rough CPU-hours and result disk per model type, with `per_job` as in `plan_batches`."""
    counts: dict[str, int] = {}
    hours: dict[str, float] = {}
    disk: dict[str, float] = {}
    for training in trainings:
        cfg = training.config
        counts[cfg.model] = counts.get(cfg.model, 0) + 1
        seconds = training_seconds(cfg)
        hours[cfg.model] = hours.get(cfg.model, 0.0) + seconds / 3600
        disk[cfg.model] = disk.get(cfg.model, 0.0) + output_mb(cfg)
    jobs: dict[str, int] = {model: 0 for model in counts}
    for batch in plan_batches(trainings, per_job):
        model = batch.trainings[0].config.model
        jobs[model] += 1
        hours[model] += JOB_OVERHEAD_S * max(1, batch.resources.cpus) / 3600
    return Estimate(counts, jobs, hours, disk)


def training_seconds(cfg: TrainConfig) -> float:
    """Core-seconds of one training (rough; see docs/sweep-spec.md#estimates)."""
    data = cfg.data
    n = DATASET_SIZE if data.max_variants is None else min(data.max_variants, DATASET_SIZE)
    held_out = (data.tune_fraction or 0.1) + (data.test_fraction or 0.1)
    n_train = n * (1 - held_out) * data.train_fraction
    per_epoch = SECONDS_PER_EPOCH[cfg.model] * _work_ratio(cfg) * n_train / REFERENCE_TRAIN
    per_epoch *= (128 / cfg.optim.batch_size) ** 0.5  # more, smaller steps cost more
    return TRAINING_OVERHEAD_S + per_epoch * expected_epochs(cfg)


def expected_epochs(cfg: TrainConfig) -> float:
    """Early stopping usually ends avGFP trainings well before max_epochs: patience x 4 + 10."""
    optim = cfg.optim
    if optim.patience == 0:
        return float(optim.max_epochs)
    return float(min(optim.max_epochs, 4 * optim.patience + 10))


def output_mb(cfg: TrainConfig) -> float:
    """Result folder size: the saved model (weights and optimizer state, float32) plus files."""
    return OUTPUT_FIXED_MB + 3 * 4 * parameter_count(cfg) / 1e6


def parameter_count(cfg: TrainConfig) -> int:
    """Approximate trainable parameters of the model a config describes."""
    width = sum(ENCODING_WIDTH.get(e, 20) for e in cfg.data.encoding)
    length = SEQUENCE_LENGTH
    p: Any = cfg.params
    if cfg.model == "linear":
        return length * width + 1
    if cfg.model == "fc":
        return length * width * p.units + (p.layers - 1) * p.units**2 + p.units * 2 + 1
    if cfg.model == "cnn":
        conv = width * p.filters * p.kernel_size + (p.layers - 1) * p.filters**2 * p.kernel_size
        return conv + length * p.filters * p.dense_units + p.dense_units + 1
    graph = width * p.filters + (p.layers - 1) * p.filters**2
    return graph + length * p.filters * p.dense_units + p.dense_units + 1


def _work_ratio(cfg: TrainConfig) -> float:
    """Compute per sample relative to the reference architecture of SECONDS_PER_EPOCH."""
    p: Any = cfg.params
    if cfg.model == "linear":
        return 1.0
    if cfg.model == "fc":
        return _ratio(parameter_count(cfg), 237 * 40 * 100 + 2 * 100**2)
    if cfg.model == "cnn":
        work = (40 * p.filters + (p.layers - 1) * p.filters**2) * p.kernel_size
        return _ratio(work, (40 * 32 + 2 * 32**2) * 17)
    work = 40 * p.filters + (p.layers - 1) * p.filters**2 + 7 * p.layers * p.filters
    return _ratio(work, 40 * 32 + 2 * 32**2 + 7 * 3 * 32)


def _ratio(work: float, reference: float) -> float:
    """Sub-linear: small models do not get proportionally faster (fixed per-step costs)."""
    return max(0.2, (work / reference) ** 0.8)


def _size(mb: float) -> str:
    if mb >= 1024 * 1024:
        return f"{mb / 1024 / 1024:.1f} TB"
    if mb >= 1024:
        return f"{mb / 1024:.1f} GB"
    return f"{mb:.0f} MB" if mb >= 1 else f"{math.ceil(mb * 1024)} KB"
