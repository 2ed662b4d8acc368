"""A loaded sweep spec + where its data is -> the `SweepPlan` that the build, `--dry-run` and
the tests read: trainings, HTCondor batches, the data files to copy and the estimate.

`load_spec` checks the spec's shape; `plan` checks it against its dataset (the card found
through one `DataSource`: data directory, download cache, cards given by path): published
split names, the kernel sizes and kNN `k` the wild type's length allows, and that an
extrapolation split's `max_train_mutations` leaves train, tune and test variants. A dataset named by
card *path* is planned under its card's name, with the card registered in the plan's
DataSource, so that jobs read the run folder's own copy of the card (`data/<name>/`).
A dataset `{db: URI, collection: NAME}` is read at plan time: its document count and
content checksum go into every training's config (the job id depends on them) and the run
manifest; the jobs connect to that server themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmsweep.config import (
    EXTRAPOLATION_SPLIT,
    RANDOM_SPLIT,
    DatabaseDataset,
    DataConfig,
    TrainConfig,
    check_sequence_length,
)
from dmsweep.data.card import DatasetCard, ProteinSetCard, looks_like_card_path
from dmsweep.data.source import DataSource, unknown_split
from dmsweep.data.tasks import LabelClasses, check_protein_set_config, protein_set_task
from dmsweep.errors import ConfigError, DataError
from dmsweep.run_builder.estimate import Estimate, estimate
from dmsweep.run_builder.expand import (
    MAX_TRAININGS,
    PlannedBatch,
    PlannedTraining,
    expand,
    plan_batches,
)
from dmsweep.run_builder.spec import SweepSpec, load_spec

BUILD_TIMEOUT = 5.0
"""Seconds a build waits for a database server before it says it is unreachable."""
if TYPE_CHECKING:
    from dmsweep.db.collection import CollectionInfo

PROTEIN_LENGTH = 500
"""The sequence length estimates assume for a protein set (SCL2205's median is 409)."""


@dataclass(frozen=True)
class SweepPlan:
    """Everything a build writes, decided before anything is written."""

    spec: SweepSpec
    data: DataSource
    card: DatasetCard | ProteinSetCard | None
    """None for a database dataset (see `database`)."""
    trainings: tuple[PlannedTraining, ...]
    """Every training of the spec, reused ones included, in the spec's order."""
    batches: tuple[PlannedBatch, ...]
    """The HTCondor jobs of the trainings still to run (not `reused`)."""
    reused: Mapping[str, Path] = field(default_factory=dict)
    """job_id -> a valid result folder of an earlier run, linked in instead of queued."""
    database: CollectionInfo | None = None
    """The collection of a database dataset, as read at plan time."""

    @property
    def queued(self) -> list[PlannedTraining]:
        return [t for t in self.trainings if t.job_id not in self.reused]

    def estimate(self) -> Estimate:
        if self.card is None or isinstance(self.card, ProteinSetCard):
            return estimate(self.queued, self.batches, sequence_length=PROTEIN_LENGTH)
        return estimate(self.queued, self.batches, sequence_length=len(self.card.wild_type))

    def data_files(self) -> dict[str, tuple[Path, str]]:
        """`data/`-relative path -> (source file, 'sha256:<hex>') of what the queued trainings
        read (files missing from the cache are downloaded now)."""
        from dmsweep.run_builder.datafiles import needed_files

        return needed_files([t.config for t in self.queued], source=self.data)

    def reusing(self, reused: Mapping[str, Path]) -> SweepPlan:
        """The plan with `reused` trainings linked in, and batches of the rest (nothing reused:
        the plan itself, whose batches already are those of every training)."""
        if not reused and not self.reused:
            return self
        rest = [t for t in self.trainings if t.job_id not in reused]
        batches = plan_batches(rest, self.spec.trainings_per_job_by_model)
        return replace(self, batches=tuple(batches), reused=dict(reused))

    def summary(self) -> list[str]:
        """What `run_builder SPEC --dry-run` prints: counts per model type and the estimate."""
        return [
            f"{self.spec.name}: {self.spec.path}",
            *self.database_lines(),
            *self.estimate().lines(),
        ]

    def database_lines(self) -> list[str]:
        """Which server (or file) the jobs will read, and the content they were queued for."""
        info = self.database
        if info is None:
            return []
        where = "the jobs connect to the server" if info.kind == "mongodb" else "a local file"
        return [
            f"database: {info.db} ({where}), collection {info.collection!r}: "
            f"{info.documents:,} documents, checksum {info.checksum}"
        ]


def plan(spec: SweepSpec, *, data: DataSource, max_trainings: int = MAX_TRAININGS) -> SweepPlan:
    """Check the spec against its dataset and expand it; ConfigError names file and key."""
    if isinstance(spec.dataset, DatabaseDataset):
        return _plan_database(spec, spec.dataset, data=data, max_trainings=max_trainings)
    card = _card(spec, data)
    if card.folder is not None:
        data = data.with_card(card)
    trainings = expand(spec, dataset=card.name, max_trainings=max_trainings)
    if isinstance(card, ProteinSetCard):
        labels = {s.name: s.classes for s in card.labels}
        _check_protein_set(spec, trainings, labels, name=card.name)
    else:
        _check_splits(spec, data.split_names(card) if card.splits else (), card)
        _check_lengths(spec, trainings, card)
    _check_precision(spec, trainings)
    _check_extrapolation(spec, trainings, data, card)
    batches = plan_batches(trainings, spec.trainings_per_job_by_model)
    return SweepPlan(spec, data, card, tuple(trainings), tuple(batches))


def _plan_database(
    spec: SweepSpec, dataset: DatabaseDataset, *, data: DataSource, max_trainings: int
) -> SweepPlan:
    """A sweep over a collection: read its count and checksum now (one line naming the
    server and the collection if it cannot be), check the models against its labels."""
    from dmsweep.db.collection import describe_collection  # numpy: only for such a sweep

    try:
        info = describe_collection(dataset.db, dataset.collection, timeout=BUILD_TIMEOUT)
    except DataError as err:
        raise ConfigError(f"{spec.path}: dataset: {err}") from None
    queued = DatabaseDataset(dataset.db, dataset.collection, checksum=info.checksum)
    trainings = expand(spec, dataset=queued, max_trainings=max_trainings)
    _check_protein_set(spec, trainings, info.labels, name=info.collection)
    _check_precision(spec, trainings)
    batches = plan_batches(trainings, spec.trainings_per_job_by_model)
    return SweepPlan(spec, data, None, tuple(trainings), tuple(batches), database=info)


def plan_file(
    spec_path: Path | str, *, data: DataSource, max_trainings: int = MAX_TRAININGS
) -> SweepPlan:
    """`plan(load_spec(spec_path), ...)`: what `run_builder SPEC` and `--dry-run` start with."""
    return plan(load_spec(spec_path), data=data, max_trainings=max_trainings)


def _card(spec: SweepSpec, data: DataSource) -> DatasetCard | ProteinSetCard:
    try:
        return data.any_card(spec.dataset, relative_to=spec.path.parent)
    except DataError as err:
        message = str(err)
        if looks_like_card_path(spec.dataset) and "dataset card not found" in message:
            message = f"{spec.dataset!r}: dataset card not found (relative to the spec's folder)"
        raise ConfigError(f"{spec.path}: dataset: {message}") from None


def _check_protein_set(
    spec: SweepSpec, trainings: Sequence[PlannedTraining], labels: LabelClasses, *, name: str
) -> None:
    """Every training fits the protein set: a label to predict, a model type that takes
    proteins of different lengths, the set's own split (docs/train.md)."""
    for training in trainings:
        config = training.config
        where = f"{spec.path}: models.{config.model}"
        task = protein_set_task(labels, config.data.label, where=f"{where} (dataset {name!r})")
        check_protein_set_config(config, task, where=where)


def _check_lengths(
    spec: SweepSpec, trainings: Sequence[PlannedTraining], card: DatasetCard
) -> None:
    seen: set[int] = set()
    for training in trainings:
        params = training.config.params
        if id(params) not in seen:
            seen.add(id(params))
            _check_length(training.config, card, f"{spec.path}: models.{training.config.model}")


def _check_precision(spec: SweepSpec, trainings: Sequence[PlannedTraining]) -> None:
    """Mixed precision is a GPU feature: a training that asks for it must be granted one."""
    for training in trainings:
        precision = training.config.optim.precision
        if precision is not None and training.resources.gpus == 0:
            model = training.config.model
            raise ConfigError(
                f"{spec.path}: models.{model}: precision {precision} needs a GPU: set "
                f"resources.{model}.gpus >= 1, or leave precision unset (float32 on CPUs)"
            )


def _check_extrapolation(
    spec: SweepSpec, trainings: Sequence[PlannedTraining], data: DataSource, card: DatasetCard
) -> None:
    """Each extrapolation split of the spec leaves train, tune and test variants: checked
    against the dataset's mutation counts (its table is read only when a split needs it)."""
    configs: dict[DataConfig, str] = {}
    for training in trainings:
        if training.config.data.split == EXTRAPOLATION_SPLIT:
            configs.setdefault(training.config.data, training.config.model)
    if not configs:
        return
    from dmsweep.data.datasets import mutation_counts
    from dmsweep.data.splits import extrapolation_split

    try:
        counts = mutation_counts(card, data)
    except DataError as err:
        raise ConfigError(f"{spec.path}: dataset: {err}") from None
    for config, model in configs.items():
        try:
            extrapolation_split(counts, config)
        except DataError as err:
            raise ConfigError(
                f"{spec.path}: models.{model}: {err} (dataset {card.name!r})"
            ) from None


def _check_length(config: TrainConfig, card: DatasetCard, where: str) -> None:
    try:
        check_sequence_length(config.params, len(card.wild_type))
    except ConfigError as err:
        raise ConfigError(f"{where}: {err} (dataset {card.name!r})") from None


def _check_splits(spec: SweepSpec, names: Sequence[str], card: DatasetCard) -> None:
    """Every split the spec names is `random` or one of the card's published splits."""
    valid = (RANDOM_SPLIT, EXTRAPOLATION_SPLIT, *names)
    for where, value in _split_values(spec):
        if value not in valid:
            raise ConfigError(f"{spec.path}: {where}: {unknown_split(value, card.name, names)}")


def _split_values(spec: SweepSpec) -> list[tuple[str, Any]]:
    places: list[tuple[str, Any]] = []
    levels = [(spec.fixed, spec.axes, "fixed")]
    levels += [(b.fixed, b.axes, f"{b.where}.fixed") for b in spec.blocks]
    for fixed, axes, prefix in levels:
        if "split" in fixed:
            places.append((f"{prefix}.split", fixed["split"]))
        for axis in axes:
            if axis.key == "split":
                places.extend((f"{axis.where}[{i}]", v) for i, v in enumerate(axis.values))
    return places
