"""Typed training configuration, its flat dictionary form, and the stable job id derived from it.

One training is described by a `TrainConfig`. Everywhere outside Python (sweep specs, job
lists, `config.json`, the aggregated CSV) it travels as a *flat* dictionary whose keys are
unique across sections (`model`, `learning_rate`, `filters`, `threshold`, ...), because that
is what a researcher writes in a sweep axis and reads as a CSV column. Parameters that do not
apply to a configuration (filters of a linear model, the kNN `k` of a distance graph) are
refused rather than ignored, so two jobs that would train the same model always get the same
job id. This module must stay free of TensorFlow: the run builder and the aggregator import it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, get_args

from dmsweep.errors import ConfigError

ModelType = Literal["linear", "fc", "cnn", "gcn"]
MODEL_TYPES: tuple[str, ...] = get_args(ModelType)
ENCODINGS: tuple[str, ...] = ("one_hot", "aa_index")
GRAPH_KINDS: tuple[str, ...] = ("distance", "knn")
POOLINGS: tuple[str, ...] = ("flatten", "attention")
RANDOM_SPLIT = "random"


@dataclass(frozen=True)
class LinearParams:
    """Flatten the encoded sequence, one output: the published additive baseline."""

    model: ClassVar[str] = "linear"


@dataclass(frozen=True)
class FCParams:
    """Fully connected: `layers` x `units`, leaky ReLU, dropout after each hidden layer."""

    model: ClassVar[str] = "fc"
    layers: int = 3
    units: int = 100
    dropout: float = 0.2


@dataclass(frozen=True)
class CNNParams:
    """Sequence CNN: `layers` 1-D convolutions, then one dense layer and dropout."""

    model: ClassVar[str] = "cnn"
    layers: int = 5
    filters: int = 128
    kernel_size: int = 3
    dense_units: int = 100
    dropout: float = 0.2


@dataclass(frozen=True)
class GCNParams:
    """Graph CNN over the residue graph of the wild-type structure.

    `threshold` (Angstrom) applies to distance graphs only and `k` to kNN graphs only; the
    one that does not apply stays None so that it cannot split identical jobs apart.
    """

    model: ClassVar[str] = "gcn"
    layers: int = 2
    filters: int = 128
    graph: str = "distance"
    threshold: float | None = None
    k: int | None = None
    dense_units: int = 100
    dropout: float = 0.2
    pooling: str = "flatten"

    def __post_init__(self) -> None:
        _check_choice("graph", self.graph, GRAPH_KINDS)
        _check_choice("pooling", self.pooling, POOLINGS)
        if self.graph == "distance":
            _refuse_if_set("k", self.k, "graph: knn")
            if self.threshold is None:
                object.__setattr__(self, "threshold", 7.0)
        else:
            _refuse_if_set("threshold", self.threshold, "graph: distance")
            if self.k is None:
                object.__setattr__(self, "k", 8)


ModelParams = LinearParams | FCParams | CNNParams | GCNParams
MODEL_PARAMS: dict[str, type[ModelParams]] = {
    cls.model: cls for cls in (LinearParams, FCParams, CNNParams, GCNParams)
}


@dataclass(frozen=True)
class DataConfig:
    """Which variants a job trains and evaluates on.

    `split` names a published split folder below the dataset's `splits/` (e.g. `main`,
    `main_replicates/standard_rep_0`) or is `random`, a fresh train/tune/test split drawn
    from `split_seed` (a dataset resample). `train_fraction` < 1 keeps that fraction of the
    training pool (drawn from `split_seed`) with tune and test unchanged: learning curves.
    `max_variants` caps the dataset before a random split, for quick trials.
    """

    dataset: str = "avgfp"
    encoding: tuple[str, ...] = ("one_hot", "aa_index")
    split: str = "main"
    split_seed: int | None = None
    tune_fraction: float | None = None
    test_fraction: float | None = None
    train_fraction: float = 1.0
    max_variants: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.encoding, str):
            object.__setattr__(self, "encoding", tuple(self.encoding.split(",")))
        object.__setattr__(self, "encoding", tuple(self.encoding))
        if not self.encoding:
            raise ConfigError(f"encoding: expected at least one of {list(ENCODINGS)}")
        for name in self.encoding:
            _check_choice("encoding", name, ENCODINGS)
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError(f"train_fraction: expected 0 < value <= 1, got {self.train_fraction}")
        if self.split == RANDOM_SPLIT:
            self._resolve_random_split()
        else:
            _refuse_if_set("tune_fraction", self.tune_fraction, f"split: {RANDOM_SPLIT}")
            _refuse_if_set("test_fraction", self.test_fraction, f"split: {RANDOM_SPLIT}")
            _refuse_if_set("max_variants", self.max_variants, f"split: {RANDOM_SPLIT}")
            if self.train_fraction == 1.0:
                _refuse_if_set("split_seed", self.split_seed, "split: random or train_fraction < 1")
            elif self.split_seed is None:
                object.__setattr__(self, "split_seed", 0)

    def _resolve_random_split(self) -> None:
        defaults = {"split_seed": 0, "tune_fraction": 0.1, "test_fraction": 0.1}
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        assert self.tune_fraction is not None and self.test_fraction is not None
        if not (0 < self.tune_fraction < 1 and 0 < self.test_fraction < 1) or (
            self.tune_fraction + self.test_fraction >= 1
        ):
            raise ConfigError(
                "tune_fraction, test_fraction: expected each in (0, 1) with a sum below 1, got "
                f"{self.tune_fraction} and {self.test_fraction}"
            )
        if self.max_variants is not None and self.max_variants < 10:
            raise ConfigError(f"max_variants: expected at least 10, got {self.max_variants}")


@dataclass(frozen=True)
class OptimConfig:
    """Adam on MSE with early stopping on the tune loss; the best epoch's weights are kept."""

    learning_rate: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 300
    patience: int = 15
    min_delta: float = 1e-5

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate: expected > 0, got {self.learning_rate}")
        for name in ("batch_size", "max_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected an integer >= 1, got {getattr(self, name)}")
        if self.patience < 0 or self.min_delta < 0:
            raise ConfigError("patience, min_delta: expected values >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one trained model; its hash is the job id.

    `seed` is the one job seed from which the Python, NumPy and TensorFlow seeds derive.
    """

    params: ModelParams = field(default_factory=LinearParams)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 7

    @property
    def model(self) -> str:
        return self.params.model

    def to_flat(self) -> dict[str, Any]:
        """The flat, defaults-resolved form written to config.json and job lists."""
        flat: dict[str, Any] = {"model": self.model, "seed": self.seed}
        for section in (self.params, self.data, self.optim):
            for f in fields(section):
                value = getattr(section, f.name)
                if value is not None:
                    flat[f.name] = list(value) if isinstance(value, tuple) else value
        return dict(sorted(flat.items()))

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
        """Build from a flat mapping; `source` names the file or spec entry in errors."""
        try:
            return _from_flat(flat)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None

    @property
    def job_id(self) -> str:
        return job_id(self.to_flat())

    def replace(self, **flat_overrides: Any) -> TrainConfig:
        """A copy with some flat keys changed (e.g. `replace(max_epochs=3)`)."""
        return TrainConfig.from_flat({**self.to_flat(), **flat_overrides})


def job_id(flat: Mapping[str, Any]) -> str:
    """`<model>-<12 hex>`: readable in a folder listing, stable across machines and runs."""
    canonical = json.dumps(_canonical(dict(flat)), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    return f"{flat['model']}-{digest}"


def flat_keys(model: str) -> tuple[str, ...]:
    """Every flat key valid for a model type, for spec validation and error messages."""
    sections = (MODEL_PARAMS[model], DataConfig, OptimConfig)
    return ("model", "seed", *(f.name for s in sections for f in fields(s)))


def all_flat_keys() -> tuple[str, ...]:
    return tuple(sorted({k for m in MODEL_TYPES for k in flat_keys(m)}))


def closest_key(key: str, valid: tuple[str, ...] | list[str]) -> str:
    """' (did you mean X?)' when a close valid key exists, else ''."""
    match = difflib.get_close_matches(key, list(valid), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _from_flat(flat: Mapping[str, Any]) -> TrainConfig:
    model = flat.get("model", "linear")
    _check_choice("model", model, MODEL_TYPES)
    valid = flat_keys(model)
    for key in flat:
        if key not in valid:
            owners = [m for m in MODEL_TYPES if key in flat_keys(m)]
            if owners:
                raise ConfigError(f"{key}: does not apply to model {model!r} (applies to {owners})")
            raise ConfigError(f"unknown key {key!r}{closest_key(key, all_flat_keys())}")
    params_cls = MODEL_PARAMS[model]
    return TrainConfig(
        params=_build_section(params_cls, flat),
        data=_build_section(DataConfig, flat),
        optim=_build_section(OptimConfig, flat),
        seed=_coerce("seed", flat.get("seed", 7), int),
    )


def _build_section(cls: type, flat: Mapping[str, Any]) -> Any:
    kwargs = {}
    for f in fields(cls):
        if f.name in flat and flat[f.name] is not None:
            kwargs[f.name] = _coerce(f.name, flat[f.name], _field_type(cls, f))
    try:
        return cls(**kwargs)
    except TypeError as err:  # pragma: no cover - guarded by the key check above
        raise ConfigError(str(err)) from None


def _field_type(cls: type, f: dataclasses.Field[Any]) -> type:
    """The scalar type a field holds (int, float, str, tuple), read from its default."""
    annotation = str(f.type)
    if annotation.startswith("tuple"):
        return tuple
    for name, typ in (("float", float), ("int", int), ("str", str)):
        if annotation.startswith(name) or annotation.startswith(f"{name} |"):
            return typ
    raise AssertionError(f"unsupported field type {annotation} on {cls.__name__}.{f.name}")


def _coerce(key: str, value: Any, typ: type) -> Any:
    """Accept what YAML and JSON produce (1e-4 as str, 3.0 as int) but refuse real mismatches."""
    if typ is tuple:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(","))
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{key}: expected a list of names, got {value!r}")
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected {typ.__name__}, got a boolean {value!r}")
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    try:
        number = float(value) if isinstance(value, str) else value
        if typ is int:
            if not isinstance(number, int | float) or number != int(number):
                raise ValueError
            return int(number)
        number = float(number)
        if not math.isfinite(number):
            raise ValueError
        return number
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected {typ.__name__}, got {value!r}") from None


def _canonical(value: Any) -> Any:
    """Floats by repr so 0.001 and 1e-3 hash alike; ints that are whole floats stay ints."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        hint = closest_key(str(value), choices)
        raise ConfigError(f"{key}: expected one of {list(choices)}, got {value!r}{hint}")


def _refuse_if_set(key: str, value: Any, needs: str) -> None:
    if value is not None:
        raise ConfigError(f"{key}: only applies with {needs}")
