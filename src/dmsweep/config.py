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
import functools
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, get_args

from dmsweep.core.dbaddress import parse_address
from dmsweep.errors import ConfigError, DatabaseError

ModelType = Literal["linear", "fc", "cnn", "gcn", "plm"]
MODEL_TYPES: tuple[str, ...] = get_args(ModelType)
ENCODINGS: tuple[str, ...] = ("one_hot", "aa_index")
GRAPH_KINDS: tuple[str, ...] = ("distance", "knn")
POOLINGS: tuple[str, ...] = ("flatten", "attention")
PLM_POOLINGS: tuple[str, ...] = ("cls", "mean")
PLM_HEADS: tuple[str, ...] = ("finetune", "embedding")
"""How a protein language model's per-token states become one vector: the [CLS] state, or
the mean over the residue tokens (docs/train.md)."""
PRECISIONS: tuple[str, ...] = ("mixed_float16", "mixed_bfloat16")
"""Keras mixed-precision policies a GPU training may use (unset: float32 throughout)."""
LR_SCALINGS: tuple[str, ...] = ("none", "linear")
"""Learning rate of a data-parallel training on N devices: as given, or N times it."""
CLASS_WEIGHTS: tuple[str, ...] = ("balanced", "none")
"""`class_weight` of a classification: `balanced` weighs each class by n / (C n_class) of the
training set; `none` (the same as unset) weighs every protein alike."""
RANDOM_SPLIT = "random"
EXTRAPOLATION_SPLIT = "extrapolation"
"""Train and tune on variants with at most `max_train_mutations` mutations, test on the rest."""
DRAWN_SPLITS: tuple[str, ...] = (RANDOM_SPLIT, EXTRAPOLATION_SPLIT)
"""Split kinds drawn from the dataset by `split_seed` rather than read from a split folder."""
MAX_MUTATIONS = 10_000
"""Mutations of one variant: far beyond any protein's length in a DMS table."""
DEFAULT_SEED = 7
"""The job seed when a config names none (Python, NumPy and TensorFlow seeds derive from it)."""
MAX_SEED = 2**32 - 1
"""NumPy's and TensorFlow's seeds are unsigned 32-bit."""
MAX_WIDTH = 100_000
"""Units, filters, dense units: far beyond what trains on a CPU or GPU, far below an overflow."""


@dataclass(frozen=True)
class Bound:
    """The allowed range of one numeric key: [low, high], either end open when `*_open`.

    Kept as field metadata (`bounded(...)`) so that every way into a config (spec, --set,
    --config, config.json) is checked once, in the section's `__post_init__`.
    """

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def text(self, integer: bool) -> str:
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        what = "an integer" if integer else "a number"
        return f"{what} in {left}{_num(self.low)}, {_num(self.high)}{right}"


def bounded(default: Any, low: float, high: float, **open_ends: bool) -> Any:
    """A dataclass field with a default and its allowed range."""
    return field(default=default, metadata={"bound": Bound(low, high, **open_ends)})


def _num(value: float) -> str:
    return f"{int(value):,}".replace(",", "_") if float(value).is_integer() else repr(value)


@dataclass(frozen=True)
class LinearParams:
    """Flatten the encoded sequence, one output: the published additive baseline."""

    model: ClassVar[str] = "linear"


@dataclass(frozen=True)
class FCParams:
    """Fully connected: `layers` x `units`, leaky ReLU, dropout after each hidden layer."""

    model: ClassVar[str] = "fc"
    layers: int = bounded(3, 1, 100)
    """Hidden layers; 0 would be the linear model under another name."""
    units: int = bounded(100, 1, MAX_WIDTH)
    dropout: float = bounded(0.2, 0, 1, high_open=True)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class CNNParams:
    """Sequence CNN: `layers` 1-D convolutions, then one dense layer and dropout."""

    model: ClassVar[str] = "cnn"
    layers: int = bounded(5, 1, 100)
    filters: int = bounded(128, 1, MAX_WIDTH)
    kernel_size: int = bounded(3, 1, MAX_WIDTH)
    """At most the sequence length: checked where the dataset is known (`check_against`)."""
    dense_units: int = bounded(100, 1, MAX_WIDTH)
    dropout: float = bounded(0.2, 0, 1, high_open=True)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class GCNParams:
    """Graph CNN over the residue graph of the wild-type structure.

    `threshold` (Angstrom) applies to distance graphs only and `k` to kNN graphs only; the
    one that does not apply stays None so that it cannot split identical jobs apart.
    """

    model: ClassVar[str] = "gcn"
    layers: int = bounded(2, 1, 100)
    filters: int = bounded(128, 1, MAX_WIDTH)
    graph: str = "distance"
    threshold: float | None = bounded(None, 0, 1000, low_open=True)
    """Angstrom; a contact graph beyond 1000 A is every residue joined to every other."""
    k: int | None = bounded(None, 1, MAX_WIDTH)
    """At most the sequence length - 1: checked where the dataset is known (`check_against`)."""
    dense_units: int = bounded(100, 1, MAX_WIDTH)
    dropout: float = bounded(0.2, 0, 1, high_open=True)
    pooling: str = "flatten"

    def __post_init__(self) -> None:
        check_bounds(self)
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


@dataclass(frozen=True)
class PLMParams:
    """A pretrained protein language model (Hugging Face directory, TensorFlow weights) fine-
    tuned with a regression head on the variant's full sequence (docs/train.md).

    `pretrained` is the model directory: relative to the data directory (a run folder copies
    it into its `data/`) or absolute (used in place, e.g. on shared storage). `max_length`
    counts tokens with [CLS] and [SEP] (capped by the model's positions); a longer sequence
    keeps its first `max_length - 2` residues. The optimizer is AdamW with `weight_decay`, a
    linear warm-up over `warmup_fraction` of all steps then a linear decay to 0, and gradients
    clipped to a global norm of `clip_norm`; `learning_rate` is the peak.
    """

    model: ClassVar[str] = "plm"
    pretrained: str = ""
    frozen_layers: int = bounded(0, 0, 1000)
    """Encoder layers kept fixed from the bottom (with the embeddings when > 0); 0: all train."""
    pooling: str = "cls"
    dropout: float = bounded(0.1, 0, 1, high_open=True)
    """Before the output layer (the encoder keeps its own dropout from its config)."""
    max_length: int = bounded(512, 3, 100_000)
    warmup_fraction: float = bounded(0.1, 0, 1, high_open=True)
    weight_decay: float = bounded(0.01, 0, 1)
    clip_norm: float = bounded(1.0, 0, 1e6, low_open=True)
    head: str | None = None
    """`embedding`: the frozen-embedding mode (the encoder is not trained; pooled embeddings
    computed once per sequence and cached, then only the head trains). Unset (or `finetune`,
    the same job): full fine-tuning, and the job ids of fine-tuning stay as they were."""

    def __post_init__(self) -> None:
        check_bounds(self)
        _check_choice("pooling", self.pooling, PLM_POOLINGS)
        if self.head == "finetune":
            object.__setattr__(self, "head", None)
        if self.head is not None:
            _check_choice("head", self.head, PLM_HEADS)
        if not self.pretrained.strip():
            raise ConfigError(
                "pretrained: expected the path of a Hugging Face model directory with "
                "TensorFlow weights (e.g. one written by dmsweep pretrain)"
            )


ModelParams = LinearParams | FCParams | CNNParams | GCNParams | PLMParams


@dataclass(frozen=True, order=True)
class DatabaseDataset:
    """A protein set in a document database: `dataset: {db: URI, collection: NAME}`.

    `db` is where the documents are read (sqlite:///file.db, mongodb://host:port/db, never
    with a password: credentials come from a file or the environment, docs/data.md);
    `checksum` is the collection's content checksum, filled in before training
    (`dmsweep.db.stream.collection_checksum`). The job id depends on the collection name
    and the checksum only, never on the host: the same documents on another server are
    the same training.
    """

    db: str
    collection: str
    checksum: str | None = None

    def __post_init__(self) -> None:
        for key in ("db", "collection"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f"dataset: {key}: expected a non-empty string, got {value!r} "
                    "(a database dataset is {db: URI, collection: NAME})"
                )
        try:
            parse_address(self.db)  # refuses a password in the URI, names what is wrong
        except DatabaseError as err:
            raise ConfigError(f"dataset: db: {err}") from None
        if self.checksum is not None and not (
            isinstance(self.checksum, str) and self.checksum.startswith("sha256:")
        ):
            raise ConfigError(f"dataset: checksum: expected 'sha256:<hex>', got {self.checksum!r}")

    @classmethod
    def from_mapping(cls, value: Mapping[str, Any]) -> DatabaseDataset:
        keys = set(value)
        if not {"db", "collection"} <= keys <= {"db", "collection", "checksum"}:
            raise ConfigError(
                f"dataset: expected a name, a card path or {{db: URI, collection: NAME}}, got "
                f"keys {sorted(map(str, keys))}"
            )
        return cls(db=value["db"], collection=value["collection"], checksum=value.get("checksum"))

    def to_flat(self) -> dict[str, str]:
        """config.json's form: where it was read, which collection, which content."""
        out = {"db": self.db, "collection": self.collection}
        if self.checksum is not None:
            out["checksum"] = self.checksum
        return out

    def identity(self) -> dict[str, str]:
        """What the job id hashes: collection and content, not the host."""
        out = {"collection": self.collection}
        if self.checksum is not None:
            out["checksum"] = self.checksum
        return out

    def __str__(self) -> str:
        return self.collection


MODEL_PARAMS: dict[str, type[ModelParams]] = {
    cls.model: cls for cls in (LinearParams, FCParams, CNNParams, GCNParams, PLMParams)
}


@dataclass(frozen=True)
class DataConfig:
    """Which variants a job trains and evaluates on.

    `split` names a published split folder below the dataset's `splits/` (e.g. `main`,
    `main_replicates/standard_rep_0`) or is `random`, a fresh train/tune/test split drawn
    from `split_seed` (a dataset resample). `train_fraction` < 1 keeps that fraction of the
    training pool (drawn from `split_seed`) with tune and test unchanged: learning curves.
    `max_variants` caps the dataset before a random split, for quick trials.
    `split: extrapolation` trains and tunes on the variants with at most `max_train_mutations`
    mutations (tune: `tune_fraction` of them, drawn from `split_seed`) and tests on every
    variant with more: how a model extrapolates to higher-order mutants.
    """

    dataset: str | DatabaseDataset = "avgfp"
    encoding: tuple[str, ...] = ("one_hot", "aa_index")
    split: str = "main"
    split_seed: int | None = bounded(None, 0, MAX_SEED)
    tune_fraction: float | None = bounded(None, 0, 1, low_open=True, high_open=True)
    test_fraction: float | None = bounded(None, 0, 1, low_open=True, high_open=True)
    train_fraction: float = bounded(1.0, 0, 1, low_open=True)
    max_variants: int | None = bounded(None, 10, 2**31 - 1)
    max_train_mutations: int | None = bounded(None, 1, MAX_MUTATIONS)
    """With `split: extrapolation` only (required there); unset elsewhere, so job ids of the
    other splits stay as they were."""
    label: str | None = None
    """Protein sets only: the label to predict (default: the set's only label). A class
    label makes the task a classification, a number a regression."""
    max_residues: int | None = bounded(None, 1, 2**31 - 1)
    """Protein sets only: keep at most the first `max_residues` residues of each protein
    (not `max_length`: that is a plm's token limit)."""

    def __post_init__(self) -> None:
        if isinstance(self.encoding, str):
            object.__setattr__(self, "encoding", tuple(self.encoding.split(",")))
        object.__setattr__(self, "encoding", tuple(self.encoding))
        if not self.encoding:
            raise ConfigError(f"encoding: expected at least one of {list(ENCODINGS)}")
        for name in self.encoding:
            _check_choice("encoding", name, ENCODINGS)
        if isinstance(self.dataset, Mapping):
            object.__setattr__(self, "dataset", DatabaseDataset.from_mapping(self.dataset))
        if not isinstance(self.dataset, DatabaseDataset) and not (
            isinstance(self.dataset, str) and self.dataset.strip()
        ):
            raise ConfigError(
                "dataset: expected a dataset name, the path of a dataset card or "
                "{db: URI, collection: NAME}"
            )
        if self.label is not None and not (isinstance(self.label, str) and self.label.strip()):
            raise ConfigError(f"label: expected a label name, got {self.label!r}")
        check_bounds(self)
        if self.split != EXTRAPOLATION_SPLIT:
            _refuse_if_set(
                "max_train_mutations", self.max_train_mutations, f"split: {EXTRAPOLATION_SPLIT}"
            )
        if self.split == RANDOM_SPLIT:
            self._resolve_random_split()
        elif self.split == EXTRAPOLATION_SPLIT:
            self._resolve_extrapolation_split()
        else:
            _refuse_if_set("tune_fraction", self.tune_fraction, f"split: {RANDOM_SPLIT}")
            _refuse_if_set("test_fraction", self.test_fraction, f"split: {RANDOM_SPLIT}")
            _refuse_if_set("max_variants", self.max_variants, f"split: {RANDOM_SPLIT}")
            if self.train_fraction == 1.0:
                _refuse_if_set("split_seed", self.split_seed, "split: random or train_fraction < 1")
            elif self.split_seed is None:
                object.__setattr__(self, "split_seed", 0)

    def _resolve_extrapolation_split(self) -> None:
        """Test is every variant beyond k mutations, so only the tune draw takes a fraction."""
        if self.max_train_mutations is None:
            raise ConfigError(
                f"max_train_mutations: expected an integer in [1, {_num(MAX_MUTATIONS)}] "
                f"with split: {EXTRAPOLATION_SPLIT} (train and tune on variants with at most "
                "that many mutations, test on the rest)"
            )
        what = f"split: {RANDOM_SPLIT} (extrapolation tests on every variant beyond k)"
        _refuse_if_set("test_fraction", self.test_fraction, what)
        _refuse_if_set("max_variants", self.max_variants, f"split: {RANDOM_SPLIT}")
        for name, default in {"split_seed": 0, "tune_fraction": 0.1}.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)

    def _resolve_random_split(self) -> None:
        defaults = {"split_seed": 0, "tune_fraction": 0.1, "test_fraction": 0.1}
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        assert self.tune_fraction is not None and self.test_fraction is not None
        if self.tune_fraction + self.test_fraction >= 1:
            raise ConfigError(
                "tune_fraction, test_fraction: expected each in (0, 1) with a sum below 1, got "
                f"{self.tune_fraction} and {self.test_fraction}"
            )


@dataclass(frozen=True)
class OptimConfig:
    """Adam on MSE with early stopping on the tune loss; the best epoch's weights are kept."""

    learning_rate: float = bounded(1e-4, 0, 10, low_open=True)
    batch_size: int = bounded(128, 1, 2**20)
    max_epochs: int = bounded(300, 1, 100_000)
    patience: int = bounded(15, 0, 100_000)
    min_delta: float = bounded(1e-5, 0, 1e6)
    precision: str | None = None
    """A mixed-precision policy (PRECISIONS) for GPU trainings; the output layer stays float32.
    Unset (the default) trains in float32 and leaves the job id as it was."""
    lr_scaling: str | None = None
    """On N > 1 GPUs (data-parallel, `batch_size` per device): `linear` multiplies the learning
    rate by N; `none` (same as unset, which leaves the job id as it was) keeps it."""
    class_weight: str | None = None
    """Classification only (CLASS_WEIGHTS): `balanced` or `none`; `none` is stored as unset,
    so that it and the default are one job."""

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.precision is not None:
            _check_choice("precision", self.precision, PRECISIONS)
        if self.lr_scaling is not None:
            _check_choice("lr_scaling", self.lr_scaling, LR_SCALINGS)
            if self.lr_scaling == "none":
                object.__setattr__(self, "lr_scaling", None)
        if self.class_weight is not None:
            _check_choice("class_weight", self.class_weight, CLASS_WEIGHTS)
            if self.class_weight == "none":
                object.__setattr__(self, "class_weight", None)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one trained model; its hash is the job id.

    `seed` is the one job seed from which the Python, NumPy and TensorFlow seeds derive.
    """

    params: ModelParams = field(default_factory=LinearParams)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = bounded(DEFAULT_SEED, 0, MAX_SEED)

    def __post_init__(self) -> None:
        if not (type(self.seed) is int and 0 <= self.seed <= MAX_SEED):  # cheap common case
            check_bounds(self)

    @property
    def model(self) -> str:
        return self.params.model

    def to_flat(self) -> dict[str, Any]:
        """The flat, defaults-resolved form written to config.json and job lists (a fresh dict)."""
        items = [("model", self.model), ("seed", self.seed)]
        for section in (self.params, self.data, self.optim):
            items.extend(_section_items(section))
        return {k: _flat_value(v) for k, v in sorted(items)}

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
        """Build from a flat mapping; `source` names the file or spec entry in errors."""
        try:
            return _from_flat(flat)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None

    @property
    def job_id(self) -> str:
        """`<model>-<12 hex>` of the canonical flat form (see `job_id`), from cached parts."""
        return seed_job_ids(self)(self.seed)

    def replace(self, **flat_overrides: Any) -> TrainConfig:
        """A copy with some flat keys changed (e.g. `replace(max_epochs=3)`)."""
        return TrainConfig.from_flat({**self.to_flat(), **flat_overrides})


def _flat_value(value: Any) -> Any:
    if type(value) is tuple:
        return list(value)
    if type(value) is DatabaseDataset:
        return value.to_flat()
    return value


def job_id(flat: Mapping[str, Any]) -> str:
    """`<model>-<12 hex>`: readable in a folder listing, stable across machines and runs.

    The hash is sha256 of the compact JSON object of the flat form with sorted keys, floats
    written by repr (so 0.001 and 1e-3 hash alike) and lists as JSON lists.
    """
    return _digest(str(flat["model"]), [_fragment(k, v) for k, v in flat.items()])


def _fragment(key: str, value: Any) -> str:
    """'"key":<canonical JSON>', one member of the hashed JSON object."""
    return f"{json.dumps(key)}:{_canonical_json(value)}"


def _canonical_json(value: Any) -> str:
    if type(value) is int:  # JSON of an int is its decimal form: skip the encoder (seeds)
        return str(value)
    return json.dumps(_canonical(value), separators=(",", ":"))


def _digest(model: str, fragments: list[str]) -> str:
    return f"{model}-{hashlib.sha256(_canonical_text(fragments).encode()).hexdigest()[:12]}"


def _canonical_text(fragments: list[str]) -> str:
    """The hashed JSON object: members sorted ('"a":' sorts before '"ab":', as sort_keys)."""
    return "{" + ",".join(sorted(fragments)) + "}"


def seed_job_ids(config: TrainConfig) -> Callable[[int], str]:
    """seed -> the job id of `config` with that seed. Expansion gives thousands of configs
    that differ only in their seed: the canonical text up to the seed is hashed once (a copy
    of that sha256 state then takes the seed and the rest), and the section triple is looked
    up once, not hashed field by field for every seed."""
    head, tail = _canonical_around_seed(config.params, config.data, config.optim)
    up_to_seed = hashlib.sha256(f"{head}{_SEED_MEMBER}".encode())
    model = config.model

    def job_id(seed: int) -> str:
        digest = up_to_seed.copy()
        digest.update(f"{_canonical_json(seed)}{tail}".encode())
        return f"{model}-{digest.hexdigest()[:12]}"

    return job_id


_SEED_MEMBER = f"{json.dumps('seed')}:"
"""What a seed's member starts with in the hashed JSON (`_fragment("seed", ...)`)."""


@functools.lru_cache(maxsize=1 << 16)
def _canonical_around_seed(params: Any, data: Any, optim: Any) -> tuple[str, str]:
    """`_canonical_text` of a config, split where its seed goes: thousands of configs share
    their sections and differ only in the seed, so the text is built once per section triple."""
    fragments = [_fragment("model", params.model), _fragment("seed", 0)]
    for section in (params, data, optim):
        fragments.extend(_section_fragments(section))
    text = _canonical_text(fragments)
    head, _, tail = text.partition(_fragment("seed", 0))
    return head, tail


@functools.lru_cache(maxsize=1 << 16)
def _section_items(section: Any) -> tuple[tuple[str, Any], ...]:
    """(key, value) of every set field of one config section (sections are few, configs many)."""
    return tuple(
        (f.name, getattr(section, f.name))
        for f in fields(section)
        if getattr(section, f.name) is not None
    )


def section_flat_items(section: Any) -> tuple[tuple[str, Any], ...]:
    """(flat key, value as `to_flat` writes it) of every set field of one config section, for
    writers that render a section once for all the configs sharing it."""
    return tuple((k, _flat_value(v)) for k, v in _section_items(section))


@functools.lru_cache(maxsize=1 << 16)
def _section_fragments(section: Any) -> tuple[str, ...]:
    return tuple(_fragment(k, v) for k, v in _section_items(section))


def flat_keys(model: str) -> tuple[str, ...]:
    """Every flat key valid for a model type, for spec validation and error messages."""
    return _FLAT_KEYS[model]


def all_flat_keys() -> tuple[str, ...]:
    return _ALL_FLAT_KEYS


def closest_key(key: str, valid: tuple[str, ...] | list[str]) -> str:
    """' (did you mean X?)' when a close valid key exists, else ''."""
    match = difflib.get_close_matches(key, list(valid), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def field_type(key: str) -> type:
    """The scalar type of a flat key: int, float, str or tuple (a list of names)."""
    return _KEY_TYPES[key]


def coerce(key: str, value: Any) -> Any:
    """One value of flat key `key` in its type, with its allowed range checked.

    Accepts what YAML and JSON produce (1e-4 as str, 3.0 for an int) but refuses real
    mismatches; ConfigError("<key>: expected ..., got ...") names the key and the range.
    """
    if key == "dataset" and isinstance(value, DatabaseDataset | Mapping):
        return value if isinstance(value, DatabaseDataset) else DatabaseDataset.from_mapping(value)
    value = _coerce(key, value, _KEY_TYPES[key])
    bound = _BOUNDS.get(key)
    if bound is not None:
        _check_bound(key, value, bound, _KEY_TYPES[key] is int)
    return value


def check_sequence_length(params: Any, length: int) -> None:
    """The checks that need the dataset's wild-type length: a CNN kernel no longer than the
    sequence, a kNN graph's k in 1..length-1. Called where the dataset is known."""
    kernel = getattr(params, "kernel_size", None)
    if kernel is not None and kernel > length:
        raise ConfigError(
            f"kernel_size: expected an integer in [1, {length}] (the sequence length), got {kernel}"
        )
    k = getattr(params, "k", None)
    if k is not None and k > length - 1:
        raise ConfigError(
            f"k: expected an integer in [1, {length - 1}] (the sequence length - 1), got {k}"
        )


def check_bounds(section: Any) -> None:
    """ConfigError naming the first field of a dataclass section outside its allowed range."""
    for f in fields(section):
        bound = f.metadata.get("bound")
        value = getattr(section, f.name)
        if bound is not None and value is not None:
            _check_bound(f.name, value, bound, "int" in str(f.type))


def _check_bound(key: str, value: Any, bound: Bound, integer: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}: expected {bound.text(integer)}, got {value!r}")
    if not (math.isfinite(value) and bound.holds(value)):
        raise ConfigError(f"{key}: expected {bound.text(integer)}, got {value!r}")


def _from_flat(flat: Mapping[str, Any]) -> TrainConfig:
    model = flat.get("model", "linear")
    if model not in MODEL_PARAMS:
        _check_choice("model", model, MODEL_TYPES)
    owner = _SECTION_OF_KEY[model]
    given: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    seed = None
    for key, value in flat.items():
        index = owner.get(key)
        if index is None:
            _refuse_key(key, model)
        elif index >= 0 and value is not None:
            given[index].append((key, type(value), _freeze(value)))
        elif key == "seed":
            seed = value
    return TrainConfig(
        params=_build_section(MODEL_PARAMS[model], tuple(given[0])),
        data=_build_section(DataConfig, tuple(given[1])),
        optim=_build_section(OptimConfig, tuple(given[2])),
        seed=DEFAULT_SEED if seed is None else coerce("seed", seed),
    )


def _refuse_key(key: Any, model: str) -> None:
    owners = [m for m in MODEL_TYPES if key in _SECTION_OF_KEY[m]]
    if owners:
        raise ConfigError(f"{key}: does not apply to model {model!r} (applies to {owners})")
    raise ConfigError(f"unknown key {key!r}{closest_key(str(key), all_flat_keys())}")


@functools.lru_cache(maxsize=1 << 16)
def _build_section(cls: type, given: tuple[tuple[str, type, Any], ...]) -> Any:
    """Keyed by value *and* type, so that True never reuses the section built for 1."""
    kwargs = {name: coerce(name, value) for name, _typ, value in given}
    return cls(**kwargs)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):  # the one mapping a flat key holds: a database dataset
        return DatabaseDataset.from_mapping(value)
    return tuple(value) if isinstance(value, list) else value


def _scalar_type(cls: type, f: dataclasses.Field[Any]) -> type:
    """The scalar type a field holds (int, float, str, tuple), read from its annotation."""
    annotation = str(f.type)
    if annotation.startswith("tuple"):
        return tuple
    for name, typ in (("float", float), ("int", int), ("str", str)):
        if annotation.startswith(name) or annotation.startswith(f"{name} |"):
            return typ
    raise AssertionError(f"unsupported field type {annotation} on {cls.__name__}.{f.name}")


def _coerce(key: str, value: Any, typ: type) -> Any:
    if typ is tuple:
        if isinstance(value, str) and value.strip():
            return tuple(v.strip() for v in value.split(","))
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{key}: expected a list of names or 'a,b', got {value!r}")
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected {_expected(key, typ)}, got a boolean {value!r}")
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if type(number) is int and typ is int:
        return number
    if not isinstance(number, int | float) or not math.isfinite(number):
        raise ConfigError(f"{key}: expected {_expected(key, typ)}, got {value!r}")
    if typ is int:
        if number != int(number):
            raise ConfigError(f"{key}: expected {_expected(key, typ)}, got {value!r}")
        return int(number)
    return float(number)


def _expected(key: str, typ: type) -> str:
    bound = _BOUNDS.get(key)
    return bound.text(typ is int) if bound else typ.__name__


def _canonical(value: Any) -> Any:
    """Floats by repr so 0.001 and 1e-3 hash alike; ints that are whole floats stay ints;
    a database dataset by its collection and content (not its host)."""
    if isinstance(value, DatabaseDataset):
        return value.identity()
    if isinstance(value, Mapping) and "collection" in value and "db" in value:
        return DatabaseDataset.from_mapping(value).identity()
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


_SECTION_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls))
    for cls in (*MODEL_PARAMS.values(), DataConfig, OptimConfig)
}
_FLAT_KEYS: dict[str, tuple[str, ...]] = {
    model: (
        "model",
        "seed",
        *_SECTION_FIELDS[cls],
        *_SECTION_FIELDS[DataConfig],
        *_SECTION_FIELDS[OptimConfig],
    )
    for model, cls in MODEL_PARAMS.items()
}
_SECTION_OF_KEY: dict[str, dict[str, int]] = {
    model: {"model": -1, "seed": -1}
    | {name: i for i, c in enumerate((cls, DataConfig, OptimConfig)) for name in _SECTION_FIELDS[c]}
    for model, cls in MODEL_PARAMS.items()
}
"""Per model: flat key -> its section (0 params, 1 data, 2 optim; -1 model and seed)."""
_ALL_FLAT_KEYS: tuple[str, ...] = tuple(sorted({k for keys in _FLAT_KEYS.values() for k in keys}))
_KEY_TYPES: dict[str, type] = {"model": str, "seed": int} | {
    f.name: _scalar_type(cls, f)
    for cls in (*MODEL_PARAMS.values(), DataConfig, OptimConfig)
    for f in fields(cls)
}
_BOUNDS: dict[str, Bound] = {
    f.name: f.metadata["bound"]
    for cls in (*MODEL_PARAMS.values(), DataConfig, OptimConfig, TrainConfig)
    for f in fields(cls)
    if "bound" in f.metadata
}
"""One range per flat key: a key shared by several models (layers, dropout) has one range."""
