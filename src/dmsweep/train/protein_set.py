"""A protein set as a training sees it: a document store, a collection, a task, and batches.

Both ways of naming a protein set end in one pipeline (docs/train.md):
- a card (`dataset: scl2205`, or a card path): its records are read once per process into
  a `MemoryStore` (dmsweep.db.memory);
- a database (`dataset: {db: URI, collection: NAME}`): the embedded SQLite file or a
  MongoDB-protocol server, opened with the credentials of the environment (never the config).
From there every split is streamed by keyset paging on `_id`, the training split through a
bounded shuffle buffer seeded by the job seed and the epoch, into padded batches
(`dmsweep.data.protein_batches`) that `tf.data.Dataset.from_generator` prefetches: memory is
O(batch + buffer) whatever the collection's size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmsweep._tf import tf
from dmsweep.config import DatabaseDataset, GCNParams, TrainConfig
from dmsweep.data.card import ProteinSetCard
from dmsweep.data.protein_batches import GraphSpec, batch_arrays
from dmsweep.data.proteins import read_protein_set
from dmsweep.data.shuffle import epoch_rng
from dmsweep.data.source import DataSource
from dmsweep.data.tasks import REGRESSION, Task, protein_set_task
from dmsweep.db import DocumentStore, open_store
from dmsweep.db.ingest import META_INGEST, ingest_protein_set
from dmsweep.db.memory import MemoryStore
from dmsweep.db.split import META_SPLIT
from dmsweep.db.stream import (
    SHUFFLE_BUFFER,
    CollectionSummary,
    shuffled_records,
    stream_records,
    summarise_collection,
)
from dmsweep.errors import DataError, DmsweepError


@dataclass
class ProteinSet:
    """An opened protein set: where its documents are, and what one pass over them found."""

    store: DocumentStore
    collection: str
    labels: dict[str, list[str] | None]
    """Label name -> classes (None: a number), from the card or the collection's ingest."""
    summary: CollectionSummary
    provenance: dict[str, Any]
    card: ProteinSetCard | None = None
    _summaries: dict[str | None, CollectionSummary] = field(default_factory=dict)

    def task(self, label: str | None) -> Task:
        return protein_set_task(self.labels, label, where=f"dataset {self.collection!r}")

    def summarised(self, label: str | None) -> CollectionSummary:
        """The summary with class counts of `label` (one more pass for a new label)."""
        if label not in self._summaries:
            self._summaries[label] = summarise_collection(self.store, self.collection, label=label)
        return self._summaries[label]


def is_protein_set(ref: str | DatabaseDataset, source: DataSource) -> bool:
    """A database dataset, or a card of `kind: protein_set`."""
    if isinstance(ref, DatabaseDataset):
        return True
    return isinstance(source.any_card(ref), ProteinSetCard)


def open_card_set(card: ProteinSetCard, source: DataSource) -> ProteinSet:
    """The card's records, read once into memory (checksums of its files verified)."""
    reading = read_protein_set(card, data_dir=source.data_dir)
    store = MemoryStore(card.name)
    ingest_protein_set(store, card.name, reading)
    summary = summarise_collection(store, card.name)
    provenance = {
        "kind": "protein_set",
        "card": card.name,
        "card_path": str(card.path) if card.path is not None else None,
        "package": None if card.package is None else vars(card.package),
        "records": summary.count,
        "skipped_records": reading.skipped,
        "checksum": summary.checksum,
        "split_checksum": summary.split_checksum,
    }
    labels = {s.name: None if s.classes is None else list(s.classes) for s in card.labels}
    return ProteinSet(store, card.name, labels, summary, provenance, card=card)


def open_database_set(dataset: DatabaseDataset, *, timeout: float = 10.0) -> ProteinSet:
    """The collection on its server or file; DataError if its content is not the content
    the job was queued with (`dataset.checksum`)."""
    store = open_store(dataset.db, timeout=timeout)
    collection = dataset.collection
    meta = store.get_meta(collection, META_INGEST)
    if store.count(collection) == 0:
        raise DataError(f"{store.address.display}: collection {collection!r} is empty or absent")
    if meta is None or not isinstance(meta.get("labels"), dict):
        raise DataError(
            f"{store.address.display}: collection {collection!r} has no ingest record (its "
            "labels and classes): write it with `dmsweep db ingest`"
        )
    summary = summarise_collection(store, collection)
    if dataset.checksum is not None and dataset.checksum != summary.checksum:
        raise DataError(
            f"{store.address.display}: collection {collection!r} has changed since this "
            f"training was queued (content {summary.checksum}, queued with {dataset.checksum})"
        )
    provenance = {
        "kind": "database",
        "db": store.address.display,
        "collection": collection,
        "documents": summary.count,
        "checksum": summary.checksum,
        "split_checksum": summary.split_checksum,
        "split": store.get_meta(collection, META_SPLIT),
        "card": meta.get("card"),
    }
    return ProteinSet(store, collection, dict(meta["labels"]), summary, provenance)


def resolve_database_checksums(configs: list[TrainConfig], *, timeout: float = 10.0) -> list[Any]:
    """Configs whose database dataset has no checksum get the collection's (the job id
    depends on it); the others are returned as they are."""
    checksums: dict[tuple[str, str], str] = {}
    out = []
    for config in configs:
        dataset = config.data.dataset
        if isinstance(dataset, DatabaseDataset) and dataset.checksum is None:
            key = (dataset.db, dataset.collection)
            if key not in checksums:
                checksums[key] = open_database_set(dataset, timeout=timeout).summary.checksum
            config = config.replace(dataset={**dataset.to_flat(), "checksum": checksums[key]})
        out.append(config)
    return out


def graph_spec(config: TrainConfig) -> GraphSpec | None:
    params = config.params
    if not isinstance(params, GCNParams):
        return None
    return GraphSpec(kind=params.graph, k=params.k, threshold=params.threshold)


@dataclass(frozen=True)
class Batches:
    """How one split of a protein set becomes batches for one training."""

    pset: ProteinSet
    task: Task
    graph: GraphSpec | None
    max_length: int | None
    batch_size: int
    failures: list[DmsweepError] = field(default_factory=list, compare=False, repr=False)
    """Errors raised inside `dataset`'s generator, which TensorFlow hands on as an OpError."""

    def arrays(
        self,
        split: str,
        *,
        seed: int | None = None,
        epoch: int = 0,
        buffer: int = SHUFFLE_BUFFER,
    ) -> Iterator[tuple[list, dict[str, np.ndarray], np.ndarray | None]]:
        """(records, inputs, targets) per batch of `split`: in `_id` order, or shuffled with
        a `buffer` of proteins by `seed` and `epoch` (a new order every epoch)."""
        records: Iterator[Any] = stream_records(self.pset.store, self.pset.collection, split=split)
        if seed is not None:
            records = shuffled_records(records, buffer=buffer, rng=epoch_rng(seed, epoch))
        chunk: list[Any] = []
        for record in records:
            chunk.append(record)
            if len(chunk) == self.batch_size:
                yield self._batch(chunk)
                chunk = []
        if chunk:
            yield self._batch(chunk)

    def _batch(self, records: list) -> tuple[list, dict[str, np.ndarray], np.ndarray | None]:
        inputs, targets = batch_arrays(
            records, task=self.task, graph=self.graph, max_length=self.max_length
        )
        return records, inputs, targets

    def dataset(
        self,
        split: str,
        *,
        seed: int | None = None,
        class_weights: np.ndarray | None = None,
        prefetch: int = 2,
    ) -> tf.data.Dataset:
        """A tf.data pipeline of (inputs, targets[, sample weights]) batches, generated by
        Python from the store and prefetched: re-iterated every epoch, reshuffled each time."""
        epochs = itertools.count()  # Keras iterates anew every epoch: a new order each time

        def generate() -> Iterator[tuple[Any, ...]]:
            epoch = next(epochs)
            try:
                for _, inputs, targets in self.arrays(split, seed=seed, epoch=epoch):
                    if class_weights is None:
                        yield inputs, targets
                    else:
                        yield inputs, targets, class_weights[targets]
            except DmsweepError as error:
                self.failures.append(error)
                raise

        signature: tuple[Any, ...] = (self.input_signature(), self._target_signature())
        if class_weights is not None:
            signature = (*signature, tf.TensorSpec((None,), tf.float32))
        data = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return data.prefetch(prefetch)

    @contextmanager
    def surfacing_errors(self) -> Iterator[None]:
        """Re-raise a data error of the generator as itself, not as TensorFlow's wrapper, so
        a bad record fails the job as a data error (exit 2, its own one-line message)."""
        try:
            yield
        except tf.errors.OpError:
            if self.failures:
                raise self.failures[0] from None
            raise

    def input_signature(self) -> dict[str, tf.TensorSpec]:
        spec = {"codes": tf.TensorSpec((None, None), tf.int8)}
        if self.graph is not None:
            spec["edges"] = tf.TensorSpec((None, None, 2), tf.int32)
            spec["edge_weights"] = tf.TensorSpec((None, None), tf.float32)
        return spec

    def _target_signature(self) -> tf.TensorSpec:
        return tf.TensorSpec((None,), tf.float32 if self.task.kind == REGRESSION else tf.int32)


def check_splits(pset: ProteinSet, summary: CollectionSummary) -> None:
    """DataError when the training or the tune split holds no protein."""
    for part in ("train", "tune"):
        if summary.split_counts.get(part, 0) == 0:
            raise DataError(
                f"dataset {pset.collection!r}: no protein in the {part} split (splits: "
                f"{summary.split_counts or 'none assigned'}); assign one with `dmsweep db split`"
            )
