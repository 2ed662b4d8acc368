"""Sweep specs (YAML): load and validate everything before a single file is written.

The format is documented with examples in docs/sweep-spec.md. In short: `fixed` keys hold one
value for every training, `grid` axes multiply, `samples` draws random or Sobol points over
ranges, `models` has one block (or a list of blocks) per model type with its own `fixed`,
`grid` and `samples`, `resamples` and `replicates` are the dataset-resample and seed axes, and
`resources`, `trainings_per_job`, `environment` and `submit` say how the sweep runs. Every key
is a flat `dmsweep.config` key (`learning_rate`, `filters`, `threshold` ...).

`load_spec` parses the spec and checks its shape (keys, types, ranges of every value, sizes)
without reading any data; otherwise it raises `ConfigError("<file>: <key path>: <problem>")`.
`dmsweep.run_builder.plan.plan(spec, data=DataSource(...))` then checks it against its dataset
and turns it into trainings and HTCondor batches (`dmsweep.run_builder.expand`).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmsweep.config import MODEL_TYPES, DatabaseDataset, all_flat_keys, closest_key, flat_keys
from dmsweep.errors import ConfigError
from dmsweep.run_builder._spec_values import (
    DEFAULTS,
    KEY_TYPES,
    SpecError,
    coerce,
    describe,
    read_yaml,
    to_number,
)
from dmsweep.run_builder.escaping import control_characters, describe_character

ENV_STRATEGIES: tuple[str, ...] = ("tarball", "wheelhouse", "container", "shared")
SAMPLE_METHODS: tuple[str, ...] = ("sobol", "random")
AXIS_ROLES: tuple[str, ...] = ("resample", "grid", "replicate")
"""`grid` axes are hyperparameters; `resample` (dataset resamples) and `replicate` (seeds) axes
are the spread over which results are averaged."""

TOP_KEYS: tuple[str, ...] = (
    "name",
    "description",
    "dataset",
    "fixed",
    "grid",
    "samples",
    "models",
    "resamples",
    "replicates",
    "resources",
    "trainings_per_job",
    "environment",
    "submit",
)
BLOCK_KEYS: tuple[str, ...] = ("fixed", "grid", "samples")
RESOURCE_KEYS: tuple[str, ...] = (
    "cpus", "memory_mb", "disk_mb", "gpus", "gpus_minimum_capability", "gpus_minimum_memory",
    "requirements",
)  # fmt: skip
MAX_GPU_CAPABILITY = 20.0
"""CUDA compute capabilities run from 1.0 to 12.x today; beyond 20 is a typo."""
SUBMIT_KEYS: tuple[str, ...] = ("max_idle", "max_materialize", "preflight")
ENV_KEYS: tuple[str, ...] = ("strategy", "image", "staging", "cuda", "gpu")
GPU_ENV_KEYS: tuple[str, ...] = ("strategy", "image", "staging", "cuda")
"""`environment.gpu`: the environment of model types whose resources ask for GPUs."""
STAGED_STRATEGIES: tuple[str, ...] = ("tarball", "wheelhouse")
"""Strategies whose environment is one file, which may be staged where the pool fetches it."""
STAGING_SCHEMES: tuple[str, ...] = ("https://", "http://", "osdf://")
SAMPLES_KEYS: tuple[str, ...] = ("method", "n", "seed", "ranges")
RANGE_KEYS: tuple[str, ...] = ("low", "high", "log", "choices")
AXIS_KEYS: tuple[str, ...] = ("values", "from", "to", "step", "when")
REPLICATE_KEYS: tuple[str, ...] = ("seed",)
RESAMPLE_KEYS: tuple[str, ...] = (
    "split",
    "split_seed",
    "train_fraction",
    "max_variants",
    "tune_fraction",
    "test_fraction",
    "max_train_mutations",
)
RESERVED: dict[str, str] = {
    "model": "list model types under models:",
    "dataset": "set the dataset with the top-level dataset: key",
}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_AXIS_VALUES = 1_000_000
"""Values of one axis (a list, a from/to range) or points of one `samples`: more is refused
at once, with the count, before anything is built (a sweep is capped by --max-trainings)."""


@dataclass(frozen=True)
class Resources:
    """What one HTCondor job asks for (request_cpus, request_memory in MB, request_disk in MB)."""

    cpus: int = 1
    memory_mb: int = 2048
    disk_mb: int = 4096
    gpus: int = 0
    gpus_minimum_capability: float | None = None
    """The least CUDA compute capability of a granted GPU (HTCondor 23.5+), e.g. 8.0."""
    gpus_minimum_memory: int | None = None
    """The least memory (MB) of a granted GPU (HTCondor 23.5+)."""
    requirements: str | None = None
    """An HTCondor ClassAd expression, passed through verbatim (quote it in YAML)."""


@dataclass(frozen=True)
class EnvironmentSpec:
    """How a job gets its Python (docs/sweep-spec.md#environment).

    `tarball`: a relocatable Python installation, built once per content hash and cached;
    `wheelhouse`: wheels installed into a venv at job start; `container`: the `image`
    (Apptainer/Docker) holds everything; `shared`: this machine's interpreter, used in place
    (personal pools and clusters with a shared filesystem).
    `staging`: for tarball and wheelhouse, the folder (an https://, http:// or osdf:// URL, or
    an absolute path on a filesystem the execute nodes share) where the environment file is
    uploaded once, so that jobs fetch it from there instead of from the submit node.
    `cuda`: for tarball and wheelhouse, add TensorFlow's `and-cuda` extra (the NVIDIA CUDA and
    cuDNN wheels of the same TensorFlow version).
    `gpu`: the environment of batches whose resources ask for GPUs (`gpus > 0`); None: they
    use this one too.
    """

    strategy: str = "tarball"
    image: str | None = None
    staging: str | None = None
    cuda: bool = False
    gpu: EnvironmentSpec | None = None

    def for_gpus(self, gpus: int) -> EnvironmentSpec:
        """The environment a batch asking for `gpus` GPUs runs in."""
        return self.gpu if gpus > 0 and self.gpu is not None else self


@dataclass(frozen=True)
class Range:
    """One sampled dimension: uniform (log-uniform with `log`) over [low, high], or a choice.

    Integer keys (`units`, `layers` ...) draw integers in [low, high], both included.
    """

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Samples:
    """`n` random or Sobol points over `ranges`, drawn from `seed`; a point is one combination."""

    method: str
    n: int
    seed: int
    ranges: Mapping[str, Range]

    def points(self) -> tuple[dict[str, Any], ...]:
        """The drawn points, in draw order (a pure function of the fields)."""
        from dmsweep.run_builder._spec_sampling import draw

        return draw(self)


@dataclass(frozen=True)
class Axis:
    """One axis: a key and its values, used only `when` other keys have one of the given values."""

    key: str
    values: tuple[Any, ...]
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    role: str = "grid"
    """One of AXIS_ROLES."""
    where: str = ""
    """Its key path in the spec, e.g. "models.gcn.grid.threshold"."""


@dataclass(frozen=True)
class Block:
    """One model block: trainings of one model type (a model may have a list of blocks)."""

    model: str
    fixed: Mapping[str, Any]
    axes: tuple[Axis, ...]
    samples: Samples | None
    where: str
    """Its key path, for error messages: "models.cnn" or "models.cnn[1]"."""

    def set_keys(self) -> set[str]:
        """Keys this block sets itself (they override spec-level settings of the same key)."""
        sampled = set(self.samples.ranges) if self.samples else set()
        return set(self.fixed) | {a.key for a in self.axes} | sampled


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec. Spec-level `fixed`, `axes` and `samples` apply to every block
    whose model has the key; a block's own setting of a key overrides the spec-level one."""

    name: str
    path: Path
    trainings_per_job: int
    environment: EnvironmentSpec
    resources: Mapping[str, Resources]
    """"default" plus one entry per model type named under `resources`; see `resources_for`."""
    max_idle: int | None
    max_materialize: int | None
    preflight: bool
    seed: int
    """The sampling seed of the spec-level `samples` (else of the first block's; 0 if none)."""
    dataset: str | DatabaseDataset = "avgfp"
    """As written: a dataset name or a card path (relative to the spec's folder), or a
    collection `{db: URI, collection: NAME}` (its checksum is read when the plan is made)."""
    description: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    axes: tuple[Axis, ...] = ()
    """Spec-level axes: grid, resample and replicate axes (see Axis.role)."""
    samples: Samples | None = None
    blocks: tuple[Block, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)
    """The parsed YAML as written (for the run folder's manifest)."""
    trainings_per_job_by_model: Mapping[str, int] = field(default_factory=dict)
    """"default" (= trainings_per_job) plus per-model values; pass it to `plan_batches`."""

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.model for b in self.blocks))

    def resources_for(self, model: str) -> Resources:
        return self.resources.get(model, self.resources["default"])

    def per_job_for(self, model: str) -> int:
        """Trainings per HTCondor job for one model type."""
        return self.trainings_per_job_by_model.get(model, self.trainings_per_job)

    def axis_keys(self, role: str) -> tuple[str, ...]:
        """Keys of the spec-level axes of one role, e.g. `axis_keys("replicate")` -> ("seed",)."""
        return tuple(a.key for a in self.axes if a.role == role)


def load_spec(path: Path | str) -> SweepSpec:
    """Read a sweep spec and check its shape (no data read, nothing expanded).

    Raises ConfigError with one line: "<file>: <key path>: <problem>".
    """
    path = Path(path)
    try:
        spec = _Parser(path).parse()
    except SpecError as err:
        raise ConfigError(f"{path}: {err}") from None
    from dmsweep.run_builder.escaping import check_spec_strings

    check_spec_strings(spec)  # names, image, paths: one printable line each
    return spec


# --------------------------------------------------------------------------- parsing


def _check_keys(mapping: Mapping[Any, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in mapping:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            hint = closest_key(str(key), allowed) or f" (expected one of {', '.join(allowed)})"
            raise SpecError(where, f"unknown key{hint}")


def _mapping(value: Any, path: str, *, what: str = "a mapping") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(path, f"expected {what}, got {describe(value)}")
    return value


def _int(value: Any, path: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        number = to_number(value) if isinstance(value, float | str) else None
        if number is None or number != int(number):
            raise SpecError(path, f"expected an integer >= {minimum}, got {describe(value)}")
        value = int(number)
    if value < minimum:
        raise SpecError(path, f"expected an integer >= {minimum}, got {value}")
    return value


def _gpu_minimums(raw: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "gpus_minimum_memory" in raw:
        value = raw["gpus_minimum_memory"]
        out["gpus_minimum_memory"] = (
            None if value is None else _int(value, f"{where}.gpus_minimum_memory", minimum=1)
        )
    if "gpus_minimum_capability" in raw:
        value = raw["gpus_minimum_capability"]
        number = None if isinstance(value, bool) else to_number(value)
        if value is not None and (number is None or not 1.0 <= number <= MAX_GPU_CAPABILITY):
            raise SpecError(
                f"{where}.gpus_minimum_capability",
                f"expected a CUDA compute capability in [1.0, {MAX_GPU_CAPABILITY}] such as 8.0, "
                f"got {describe(value)}",
            )
        out["gpus_minimum_capability"] = None if value is None else float(number)
    return out


def _check_size(count: int, path: str, what: str) -> None:
    if count > MAX_AXIS_VALUES:
        raise SpecError(path, f"{count:,} {what}: more than {MAX_AXIS_VALUES:,} are refused")


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"expected true or false, got {describe(value)}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(path, f"expected a non-empty string, got {describe(value)}")
    return value


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.models: tuple[str, ...] = ()

    # -- top level ------------------------------------------------------------------
    def parse(self) -> SweepSpec:
        raw = read_yaml(self.path)
        if raw is None:
            raise SpecError("", "the sweep spec is empty")
        if not isinstance(raw, dict):
            raise SpecError("", f"expected a mapping of sweep settings, got {describe(raw)}")
        _check_keys(raw, TOP_KEYS, "")
        for key in ("name", "dataset", "models"):
            if key not in raw:
                raise SpecError(key, "missing (required)")
        name = _str(raw["name"], "name")
        if not NAME_RE.match(name):
            raise SpecError(
                "name", f"{name!r}: use letters, digits, '_', '-' and '.' (it names the run folder)"
            )
        description = raw.get("description") or ""
        if not isinstance(description, str):
            raise SpecError("description", f"expected text, got {describe(description)}")
        dataset = self._dataset(raw["dataset"])

        self.models = self._model_names(raw["models"])
        fixed, axes, samples = self._level(raw, "", None)
        axes += self._role_axes(raw, "resamples", RESAMPLE_KEYS, "resample")
        axes += self._role_axes(raw, "replicates", REPLICATE_KEYS, "replicate")
        blocks = self._blocks(raw["models"])
        self._check_overlaps(fixed, axes, samples, blocks)
        self._check_conditions(fixed, axes, blocks)

        resources = self._resources(raw.get("resources"))
        environment = self._environment(raw.get("environment"))
        submit = _mapping(raw.get("submit"), "submit")
        _check_keys(submit, SUBMIT_KEYS, "submit")
        throttles = {
            key: None if submit.get(key) is None else _int(submit[key], f"submit.{key}", minimum=1)
            for key in ("max_idle", "max_materialize")
        }
        preflight = _bool(submit.get("preflight", False), "submit.preflight")
        per_job = self._per_job(raw.get("trainings_per_job", 1))
        block_seeds = [b.samples.seed for b in blocks if b.samples]
        seed = samples.seed if samples else (block_seeds[0] if block_seeds else 0)
        return SweepSpec(
            name=name,
            path=self.path,
            trainings_per_job=per_job["default"],
            environment=environment,
            resources=resources,
            max_idle=throttles["max_idle"],
            max_materialize=throttles["max_materialize"],
            preflight=preflight,
            seed=seed,
            dataset=dataset,
            description=description.strip(),
            fixed=fixed,
            axes=axes,
            samples=samples,
            blocks=blocks,
            raw=raw,
            trainings_per_job_by_model=per_job,
        )

    def _dataset(self, value: Any) -> str | DatabaseDataset:
        """A name or card path, or a `{db, collection}` mapping: the build reads the
        collection's checksum itself, so a spec never names one."""
        if not isinstance(value, dict):
            return _str(value, "dataset")
        if "checksum" in value:
            raise SpecError(
                "dataset.checksum", "not in a spec: the build reads the collection's checksum"
            )
        try:
            return DatabaseDataset.from_mapping(value)
        except ConfigError as err:
            raise SpecError("dataset", str(err).removeprefix("dataset: ")) from None

    def _per_job(self, value: Any) -> dict[str, int]:
        if not isinstance(value, dict):
            return {"default": _int(value, "trainings_per_job", minimum=1)}
        _check_keys(value, ("default", *MODEL_TYPES), "trainings_per_job")
        out = {"default": _int(value.get("default", 1), "trainings_per_job.default", minimum=1)}
        for model in MODEL_TYPES:
            if model in value:
                out[model] = _int(value[model], f"trainings_per_job.{model}", minimum=1)
        return out

    def _model_names(self, value: Any) -> tuple[str, ...]:
        models = _mapping(value, "models", what="a mapping of model type -> block")
        if not models:
            raise SpecError("models", "no model blocks: the spec yields no trainings")
        for model in models:
            if model not in MODEL_TYPES:
                hint = (
                    closest_key(str(model), MODEL_TYPES)
                    or f" (expected one of {', '.join(MODEL_TYPES)})"
                )
                raise SpecError(f"models.{model}", f"unknown model type{hint}")
        return tuple(models)

    # -- levels: fixed / grid / samples -----------------------------------------------
    def _level(
        self, raw: Mapping[str, Any], prefix: str, model: str | None
    ) -> tuple[dict[str, Any], tuple[Axis, ...], Samples | None]:
        def at(key: str) -> str:
            return f"{prefix}.{key}" if prefix else key

        fixed_raw = _mapping(raw.get("fixed"), at("fixed"))
        fixed = {}
        for key, value in fixed_raw.items():
            where = f"{at('fixed')}.{key}"
            self._check_param(key, where, model)
            if isinstance(value, dict) or (isinstance(value, list) and KEY_TYPES[key] is not tuple):
                raise SpecError(
                    where, f"expected one value, got {describe(value)} (put axes under grid:)"
                )
            fixed[key] = coerce(key, value, where)
        grid_raw = _mapping(raw.get("grid"), at("grid"))
        axes = []
        for key, value in grid_raw.items():
            where = f"{at('grid')}.{key}"
            self._check_param(key, where, model)
            if key in fixed:
                raise SpecError(where, f"{key} is also under {at('fixed')}: set it in one place")
            axes.append(self._axis(key, value, where, "grid"))
        samples = None
        if raw.get("samples") is not None:
            samples = self._samples(raw["samples"], at("samples"), model)
            for key in samples.ranges:
                if key in fixed or key in grid_raw:
                    raise SpecError(
                        f"{at('samples')}.ranges.{key}",
                        f"{key} is also under {at('fixed') if key in fixed else at('grid')}: "
                        "set it in one place",
                    )
        return fixed, tuple(axes), samples

    def _check_param(self, key: Any, where: str, model: str | None) -> None:
        """A flat config key that applies to `model` (a block) or to some model of the spec."""
        if not isinstance(key, str):
            raise SpecError(where, "expected a parameter name")
        if key in RESERVED:
            raise SpecError(where, f"not allowed here: {RESERVED[key]}")
        valid = flat_keys(model) if model else all_flat_keys()
        if key not in all_flat_keys():
            raise SpecError(
                where, f"unknown key{closest_key(key, valid) or closest_key(key, all_flat_keys())}"
            )
        owners = [m for m in MODEL_TYPES if key in flat_keys(m)]
        if model is not None and key not in flat_keys(model):
            raise SpecError(
                where, f"does not apply to model {model!r} (applies to {', '.join(owners)})"
            )
        if model is None and not any(key in flat_keys(m) for m in self.models):
            raise SpecError(
                where,
                f"applies to no model of this spec (models: {', '.join(self.models)}; "
                f"{key} applies to {', '.join(owners)})",
            )

    def _axis(self, key: str, value: Any, where: str, role: str) -> Axis:
        when: dict[str, tuple[Any, ...]] = {}
        if isinstance(value, dict):
            _check_keys(value, AXIS_KEYS, where)
            if "when" in value:
                when = self._when(key, value["when"], f"{where}.when")
            has_range = any(k in value for k in ("from", "to", "step"))
            if "values" in value and has_range:
                raise SpecError(where, "give either values: or from:/to:, not both")
            if "values" in value:
                value = value["values"]
            elif has_range:
                value = self._range_values(key, value, where)
            else:
                raise SpecError(where, "expected values: [...] or from:/to: (an empty axis)")
        if not isinstance(value, list):
            raise SpecError(
                where,
                f"expected a list of values or {{from: .., to: ..}}, got {describe(value)} "
                "(put single values under fixed:)",
            )
        if not value:
            raise SpecError(where, "empty axis (no values)")
        _check_size(len(value), where, "values")
        values = tuple(coerce(key, v, f"{where}[{i}]") for i, v in enumerate(value))
        return Axis(key=key, values=tuple(dict.fromkeys(values)), when=when, role=role, where=where)

    def _range_values(self, key: str, spec: Mapping[str, Any], where: str) -> list[Any]:
        typ = KEY_TYPES[key]
        if typ not in (int, float):
            raise SpecError(where, f"from:/to: needs a numeric key, {key} is not numeric")
        for bound in ("from", "to"):
            if bound not in spec:
                raise SpecError(f"{where}.{bound}", "missing (from: and to: are both required)")
        nums = {}
        for bound in ("from", "to", "step"):
            if bound in spec:
                nums[bound] = coerce(key, spec[bound], f"{where}.{bound}")
        start, stop, step = nums["from"], nums["to"], nums.get("step", 1)
        if step <= 0:
            raise SpecError(f"{where}.step", f"expected a positive step, got {step}")
        if stop < start:
            raise SpecError(where, f"empty axis (from: {start} is above to: {stop})")
        count = int((stop - start) / step + 1e-9) + 1
        _check_size(count, where, "values (from:/to:/step:)")
        if typ is int:
            return [start + i * step for i in range(count)]
        return [round(start + i * step, 12) for i in range(count)]

    def _when(self, key: str, value: Any, where: str) -> dict[str, tuple[Any, ...]]:
        when = _mapping(value, where)
        if not when:
            raise SpecError(where, "empty condition")
        out = {}
        for cond_key, cond_values in when.items():
            cwhere = f"{where}.{cond_key}"
            if cond_key == key:
                raise SpecError(cwhere, "an axis cannot depend on itself")
            if cond_key != "model" and cond_key not in KEY_TYPES:
                hint = closest_key(str(cond_key), ["model", *all_flat_keys()])
                raise SpecError(cwhere, f"condition on unknown axis {cond_key!r}{hint}")
            items = cond_values if isinstance(cond_values, list) else [cond_values]
            if not items:
                raise SpecError(cwhere, "empty condition (no values)")
            if cond_key == "model":
                for item in items:
                    if item not in self.models:
                        raise SpecError(
                            cwhere,
                            f"{describe(item)} is not a model of this spec "
                            f"({', '.join(self.models)})",
                        )
                out[cond_key] = tuple(items)
            else:
                out[cond_key] = tuple(coerce(cond_key, v, cwhere) for v in items)
        return out

    def _samples(self, value: Any, where: str, model: str | None) -> Samples:
        raw = _mapping(value, where)
        _check_keys(raw, SAMPLES_KEYS, where)
        method = raw.get("method", "sobol")
        if method not in SAMPLE_METHODS:
            raise SpecError(
                f"{where}.method",
                f"expected one of {', '.join(SAMPLE_METHODS)}, got {describe(method)}",
            )
        if "n" not in raw:
            raise SpecError(f"{where}.n", "missing: how many points to draw")
        n = _int(raw["n"], f"{where}.n", minimum=1)
        _check_size(n, f"{where}.n", "points")
        if "seed" not in raw:
            raise SpecError(
                f"{where}.seed", "missing: the sampling seed is required (it is recorded)"
            )
        seed = _int(raw["seed"], f"{where}.seed", minimum=0)
        ranges_raw = _mapping(raw.get("ranges"), f"{where}.ranges")
        if not ranges_raw:
            raise SpecError(f"{where}.ranges", "no ranges to sample")
        ranges = {}
        for key, spec in ranges_raw.items():
            rwhere = f"{where}.ranges.{key}"
            self._check_param(key, rwhere, model)
            ranges[key] = self._range(key, spec, rwhere)
        return Samples(method=method, n=n, seed=seed, ranges=ranges)

    def _range(self, key: str, value: Any, where: str) -> Range:
        spec = _mapping(value, where, what="{low: .., high: ..} or {choices: [..]}")
        _check_keys(spec, RANGE_KEYS, where)
        if "choices" in spec:
            if any(k in spec for k in ("low", "high", "log")):
                raise SpecError(where, "give either choices: or low:/high:, not both")
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise SpecError(
                    f"{where}.choices", f"expected a non-empty list, got {describe(choices)}"
                )
            return Range(
                choices=tuple(
                    coerce(key, c, f"{where}.choices[{i}]") for i, c in enumerate(choices)
                )
            )
        typ = KEY_TYPES[key]
        if typ not in (int, float):
            raise SpecError(where, f"{key} is not numeric: sample it with choices: [...]")
        for bound in ("low", "high"):
            if bound not in spec:
                raise SpecError(f"{where}.{bound}", "missing (low: and high: are both required)")
        low = coerce(key, spec["low"], f"{where}.low")
        high = coerce(key, spec["high"], f"{where}.high")
        if not low < high:
            raise SpecError(where, f"expected low < high, got low {low} and high {high}")
        log = _bool(spec.get("log", False), f"{where}.log")
        if log and low <= 0:
            raise SpecError(f"{where}.low", f"a log-scale range needs low > 0, got {low}")
        return Range(low=low, high=high, log=log, integer=typ is int)

    def _role_axes(
        self, raw: Mapping[str, Any], section: str, allowed: tuple[str, ...], role: str
    ) -> tuple[Axis, ...]:
        mapping = _mapping(raw.get(section), section)
        axes = []
        for key, value in mapping.items():
            where = f"{section}.{key}"
            if key not in allowed:
                hint = closest_key(str(key), allowed) or f" (expected {', '.join(allowed)})"
                if key in all_flat_keys():
                    raise SpecError(where, f"not a {role} key: put it under fixed: or grid:{hint}")
                raise SpecError(where, f"unknown key{hint}")
            self._check_param(key, where, None)
            axes.append(self._axis(key, value, where, role))
        return tuple(axes)

    def _blocks(self, models: Mapping[str, Any]) -> tuple[Block, ...]:
        blocks = []
        for model, value in models.items():
            items = value if isinstance(value, list) else [value]
            if isinstance(value, list) and not value:
                raise SpecError(f"models.{model}", "empty list of blocks")
            for i, item in enumerate(items):
                where = f"models.{model}[{i}]" if isinstance(value, list) else f"models.{model}"
                block_raw = _mapping(item, where, what="a block mapping (fixed/grid/samples)")
                _check_keys(block_raw, BLOCK_KEYS, where)
                fixed, axes, samples = self._level(block_raw, where, model)
                blocks.append(
                    Block(model=model, fixed=fixed, axes=axes, samples=samples, where=where)
                )
        return tuple(blocks)

    # -- cross checks ------------------------------------------------------------------
    def _check_overlaps(
        self,
        fixed: Mapping[str, Any],
        axes: tuple[Axis, ...],
        samples: Samples | None,
        blocks: tuple[Block, ...],
    ) -> None:
        seen: dict[str, str] = {}
        for axis in axes:
            if axis.key in seen or axis.key in fixed or (samples and axis.key in samples.ranges):
                first = seen.get(axis.key) or ("fixed" if axis.key in fixed else "grid/samples")
                raise SpecError(
                    axis.where, f"{axis.key} is also set at {first}: set it in one place"
                )
            seen[axis.key] = axis.where
        spread = {a.key: a.where for a in axes if a.role != "grid"}
        for block in blocks:
            for key in block.set_keys():
                if key in spread:
                    raise SpecError(
                        f"{block.where}",
                        f"{key} is a {spread[key].split('.')[0]} axis ({spread[key]}); "
                        "it cannot be set in a model block",
                    )

    def _check_conditions(
        self, fixed: Mapping[str, Any], axes: tuple[Axis, ...], blocks: tuple[Block, ...]
    ) -> None:
        """Condition keys must be set somewhere in the spec; their values must be reachable."""
        possible: dict[str, set[Any]] = {"model": set(self.models)}

        def add(key: str, values: Any) -> None:
            possible.setdefault(key, set()).update(values)

        for key, value in fixed.items():
            add(key, [value])
        for axis in axes:
            add(axis.key, axis.values)
        for block in blocks:
            for key, value in block.fixed.items():
                add(key, [value])
            for axis in block.axes:
                add(axis.key, axis.values)
        set_keys = set(possible)
        for key in list(possible):
            for model in self.models:
                default = DEFAULTS[model].get(key)
                if default is not None and key in flat_keys(model):
                    possible[key].add(default)
        all_axes = [*axes, *(a for b in blocks for a in b.axes)]
        block_of = {id(a): b.model for b in blocks for a in b.axes}
        for axis in all_axes:
            if "model" in axis.when:
                models = [block_of[id(axis)]] if id(axis) in block_of else list(self.models)
                reach = [m for m in models if m in axis.when["model"] and axis.key in flat_keys(m)]
                if not reach:
                    raise SpecError(
                        f"{axis.where}.when.model",
                        f"{axis.key} applies to none of the models this condition allows",
                    )
            for cond_key, cond_values in axis.when.items():
                cwhere = f"{axis.where}.when.{cond_key}"
                if cond_key not in set_keys:
                    known = sorted(set_keys)
                    hint = closest_key(cond_key, known)
                    raise SpecError(
                        cwhere,
                        f"condition on unknown axis {cond_key!r}{hint}: it is not set anywhere in "
                        f"this spec (set keys: {', '.join(known)})",
                    )
                for value in cond_values:
                    if value not in possible[cond_key]:
                        shown = ", ".join(sorted(str(v) for v in possible[cond_key]))
                        raise SpecError(
                            cwhere, f"{cond_key} is never {value!r} in this spec (values: {shown})"
                        )

    # -- how it runs -------------------------------------------------------------------
    def _resources(self, value: Any) -> dict[str, Resources]:
        raw = _mapping(value, "resources")
        allowed = ("default", *MODEL_TYPES)
        _check_keys(raw, allowed, "resources")
        default = self._resource(raw.get("default"), "resources.default", Resources())
        out = {"default": default}
        for model in MODEL_TYPES:
            if model in raw:
                out[model] = self._resource(raw[model], f"resources.{model}", default)
        return out

    def _resource(self, value: Any, where: str, base: Resources) -> Resources:
        raw = _mapping(value, where)
        _check_keys(raw, RESOURCE_KEYS, where)
        kwargs: dict[str, Any] = {}
        for key in ("cpus", "memory_mb", "disk_mb", "gpus"):
            if key in raw:
                kwargs[key] = _int(raw[key], f"{where}.{key}", minimum=0 if key == "gpus" else 1)
        if "requirements" in raw:
            kwargs["requirements"] = (
                None
                if raw["requirements"] is None
                else _str(raw["requirements"], f"{where}.requirements")
            )
        kwargs.update(_gpu_minimums(raw, where))
        merged = {**base.__dict__, **kwargs}
        if merged["gpus"] == 0:  # set here: a mistake; inherited from default: not for CPU jobs
            for key in ("gpus_minimum_capability", "gpus_minimum_memory"):
                if raw.get(key) is not None:
                    raise SpecError(f"{where}.{key}", "only applies with gpus >= 1")
                merged[key] = None
        return Resources(**merged)

    def _environment(self, value: Any, path: str = "environment") -> EnvironmentSpec:
        raw = _mapping(value, path)
        top = path == "environment"
        _check_keys(raw, ENV_KEYS if top else GPU_ENV_KEYS, path)
        strategy = raw.get("strategy", "tarball")
        if strategy not in ENV_STRATEGIES:
            hint = closest_key(str(strategy), ENV_STRATEGIES)
            raise SpecError(
                f"{path}.strategy",
                f"expected one of {', '.join(ENV_STRATEGIES)}, got {describe(strategy)}{hint}",
            )
        image = raw.get("image")
        if strategy == "container":
            if image is None:
                raise SpecError(f"{path}.image", "missing: strategy container needs an image")
            image = _str(image, f"{path}.image")
            if control_characters(image):
                raise SpecError(
                    f"{path}.image",
                    f"holds {describe_character(control_characters(image)[0])}: expected one "
                    "line of printable text (it is written into the submit file)",
                )
        elif image is not None:
            raise SpecError(f"{path}.image", "only applies with strategy: container")
        staging = raw.get("staging")
        if staging is not None:
            if strategy not in STAGED_STRATEGIES:
                raise SpecError(
                    f"{path}.staging",
                    f"only applies with strategy: {' or '.join(STAGED_STRATEGIES)}",
                )
            staging = _staging(_str(staging, f"{path}.staging"), f"{path}.staging")
        cuda = _bool(raw.get("cuda", False), f"{path}.cuda")
        if cuda and strategy not in STAGED_STRATEGIES:
            raise SpecError(
                f"{path}.cuda",
                f"only applies with strategy: {' or '.join(STAGED_STRATEGIES)} (a container "
                "image brings its own CUDA libraries)",
            )
        gpu = None
        if top and raw.get("gpu") is not None:
            gpu = self._environment(raw["gpu"], "environment.gpu")
            if (gpu.strategy == "container") != (strategy == "container"):
                raise SpecError(
                    "environment.gpu.strategy",
                    "container for one of environment and environment.gpu but not the other: "
                    "one run folder is one HTCondor universe (use container for both, with "
                    f"two images, or neither), got {strategy} and {gpu.strategy}",
                )
        return EnvironmentSpec(strategy, image, staging, cuda, gpu)


def _staging(text: str, path: str = "environment.staging") -> str:
    """A staging folder as the submit file and wrapper will name it (no trailing slash)."""
    folder = text.strip().rstrip("/")
    if folder in (*(s.rstrip("/") for s in STAGING_SCHEMES), ""):
        raise SpecError(path, f"expected a host or folder after the scheme, got {text!r}")
    if not folder.startswith((*STAGING_SCHEMES, "/")):
        raise SpecError(
            path,
            f"expected an {', '.join(STAGING_SCHEMES)} URL or an absolute path, got {text!r}",
        )
    if any(c.isspace() or c in ",;'\"\\$`" or not c.isprintable() for c in folder):
        raise SpecError(
            path,
            f"no spaces, commas, quotes, '$' or control characters (HTCondor lists transfer "
            f"inputs with commas), got {text!r}",
        )
    if not folder.startswith("/"):
        url = urllib.parse.urlsplit(folder)
        if url.username or url.password or url.query or url.fragment:
            raise SpecError(
                path,
                "expected a URL without credentials, query or fragment (it is written into "
                "the submit file and the run folder's README: give the server its own "
                f"authentication), got {_redact_url(folder)!r}",
            )
    return folder


def _redact_url(text: str) -> str:
    """The URL with user, password and query replaced, fit for an error message."""
    url = urllib.parse.urlsplit(text)
    host = url.hostname or ""
    netloc = f"***@{host}" if url.username or url.password else url.netloc
    query = "***" if url.query else ""
    return urllib.parse.urlunsplit((url.scheme, netloc, url.path, query, ""))
