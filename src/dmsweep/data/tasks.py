"""The task a dataset sets: regression, binary or multi-class classification (docs/train.md).

A variant table predicts a number (regression, as always). A protein set predicts one of its
labels (`label:` in the config, default the set's only label): a label with `classes` on
the card is a classification (two classes: binary, more: multiclass), a label without them
a number. No NumPy here: the run builder and `dmsweep train` check configs with it before
anything loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dmsweep.config import RANDOM_SPLIT, CNNParams, GCNParams, PLMParams, TrainConfig
from dmsweep.errors import ConfigError

REGRESSION = "regression"
BINARY = "binary"
MULTICLASS = "multiclass"
PROTEIN_SET_MODELS = ("cnn", "gcn", "plm")
"""Model types that train on proteins of different lengths (linear and fc need one length)."""
PROTEIN_SET_SPLIT = "main"
"""A protein set's `split`: the one its records carry (the card's published split, or the
assignment `dmsweep db split` wrote into the documents)."""
PROTEIN_SET_ONLY = ("label", "max_residues")
CLASSIFICATION_ONLY = ("class_weight",)

LabelClasses = Mapping[str, Sequence[str] | None]
"""Label name -> its classes (None: a numeric label), as a card or a collection lists them."""


@dataclass(frozen=True)
class Task:
    """What a training predicts and how it is scored."""

    kind: str
    label: str | None = None
    classes: tuple[str, ...] = ()

    @property
    def is_classification(self) -> bool:
        return self.kind != REGRESSION

    @property
    def outputs(self) -> int:
        """Units of the output layer: 1 (a score, or p(class 1) of a binary task), else C."""
        return len(self.classes) if self.kind == MULTICLASS else 1

    @property
    def output_activation(self) -> str | None:
        """The output layer's activation: sigmoid (binary), softmax (multiclass), none."""
        return {BINARY: "sigmoid", MULTICLASS: "softmax"}.get(self.kind)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"task": self.kind}
        if self.label is not None:
            out["label"] = self.label
        if self.classes:
            out["classes"] = list(self.classes)
        return out


VARIANT_TASK = Task(REGRESSION)


def protein_set_task(labels: LabelClasses, label: str | None, *, where: str) -> Task:
    """The task of predicting `label` (None: the only label) of a set with these labels."""
    if not labels:
        raise ConfigError(f"{where}: the protein set has no labels to predict")
    if label is None:
        if len(labels) > 1:
            raise ConfigError(
                f"{where}: label: the protein set has several labels {sorted(labels)}: "
                "choose one with label: NAME"
            )
        label = next(iter(labels))
    if label not in labels:
        raise ConfigError(f"{where}: label: expected one of {sorted(labels)}, got {label!r}")
    classes = labels[label]
    if classes is None:
        return Task(REGRESSION, label)
    classes = tuple(str(c) for c in classes)
    if len(classes) < 2:
        raise ConfigError(f"{where}: label {label!r} has {len(classes)} class: nothing to learn")
    return Task(BINARY if len(classes) == 2 else MULTICLASS, label, classes)


def check_protein_set_config(config: TrainConfig, task: Task, *, where: str) -> None:
    """ConfigError (naming `where` and the key) for what a protein set cannot train."""
    if config.model not in PROTEIN_SET_MODELS:
        raise ConfigError(
            f"{where}: model {config.model!r} needs one sequence length (a variant table); "
            f"a protein set trains {list(PROTEIN_SET_MODELS)}"
        )
    data = config.data
    if data.split != PROTEIN_SET_SPLIT or data.train_fraction != 1.0:
        what = "split: random" if data.split == RANDOM_SPLIT else f"split: {data.split}"
        if data.train_fraction != 1.0:
            what = f"train_fraction: {data.train_fraction}"
        raise ConfigError(
            f"{where}: {what}: a protein set trains on the split its records carry "
            f"(split: {PROTEIN_SET_SPLIT}); assign another with `dmsweep db split`"
        )
    params = config.params
    if isinstance(params, GCNParams) and params.pooling != "attention":
        raise ConfigError(
            f"{where}: pooling: {params.pooling} needs one sequence length; a gcn on a protein "
            "set pools with pooling: attention"
        )
    longest = data.max_residues
    if isinstance(params, CNNParams) and longest is not None and params.kernel_size > longest:
        raise ConfigError(
            f"{where}: kernel_size {params.kernel_size} is longer than max_residues {longest}"
        )
    if config.optim.precision is not None:
        raise ConfigError(
            f"{where}: precision: a protein set trains in float32 (mixed precision is for "
            "variant tables so far)"
        )
    if not task.is_classification and config.optim.class_weight is not None:
        raise ConfigError(
            f"{where}: class_weight: only applies to a classification (label {task.label!r} "
            "is a number)"
        )


def residues_kept(config: TrainConfig) -> int | None:
    """How many residues of each protein a protein-set training reads (None: all): the
    first `max_residues`, and for a `plm` at most its first `max_length - 2` (the tokens
    less [CLS] and [SEP]; the model cuts further if its position embeddings are fewer).
    Longer proteins keep their N-terminal residues, the rest is dropped (docs/train.md)."""
    limits = [config.data.max_residues]
    if isinstance(config.params, PLMParams):
        limits.append(config.params.max_length - 2)
    given = [n for n in limits if n is not None]
    return min(given) if given else None


def check_variant_config(config: TrainConfig, *, where: str) -> None:
    """ConfigError for the keys that only protein sets or classifications take."""
    for key in PROTEIN_SET_ONLY:
        if getattr(config.data, key) is not None:
            raise ConfigError(f"{where}: {key}: only applies to a protein set (kind: protein_set)")
    if config.optim.class_weight is not None:
        raise ConfigError(
            f"{where}: class_weight: only applies to a classification; a variant table's score "
            "is a number"
        )
