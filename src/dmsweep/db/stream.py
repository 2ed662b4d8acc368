"""Mini-batches of proteins streamed from a document store, for training and evaluation.

A split is read by keyset paging on `_id` (`{"split": s, "_id": {"$gt": last}}`, sorted,
limited to one batch), so memory holds one batch whatever the collection's size. Each batch
can carry per-protein kNN C-alpha residue graphs (`dmsweep.data.graphs.knn_edges`, a
neighbour search: O(L k) per protein, not L x L).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from dmsweep.data.graphs import knn_edges
from dmsweep.data.proteins import ProteinRecord
from dmsweep.db.documents import content_checksum, document_to_record
from dmsweep.db.store import DocumentStore
from dmsweep.errors import ConfigError, DataError


@dataclass(frozen=True)
class ProteinBatch:
    """One mini-batch: records in `_id` order and, when asked for, each one's graph."""

    records: tuple[ProteinRecord, ...]
    edges: tuple[np.ndarray, ...] | None = None
    """Per protein: int32 (E, 2) directed edges (both directions) of its kNN graph."""

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(r.sequence) for r in self.records], dtype=np.int32)

    def padded_ca(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 (B, L_max, 3) C-alpha coordinates (zeros past each end) and the bool
        (B, L_max) mask of real residues: padded batch mode, which MirroredStrategy takes."""
        width = int(self.lengths.max())
        coords = np.zeros((len(self.records), width, 3), dtype=np.float32)
        mask = np.zeros((len(self.records), width), dtype=bool)
        for row, record in enumerate(self.records):
            if record.ca is None:
                raise DataError(f"record {record.id!r}: no coordinates")
            coords[row, : len(record.ca)] = np.nan_to_num(record.ca)
            mask[row, : len(record.ca)] = True
        return coords, mask


def stream_batches(
    store: DocumentStore,
    collection: str,
    *,
    split: str | None,
    batch_size: int,
    knn: int | None = None,
) -> Iterator[ProteinBatch]:
    """Batches of `batch_size` proteins of `split` (None: all) in `_id` order; with `knn`,
    each protein's graph (DataError naming the protein if it lacks C-alpha coordinates)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size: expected an integer >= 1, got {batch_size}")
    after = None
    while documents := store.page(collection, split=split, after=after, limit=batch_size):
        after = documents[-1]["_id"]
        records = tuple(document_to_record(doc) for doc in documents)
        del documents  # one batch in memory: the records, not also their documents
        yield ProteinBatch(
            records=records, edges=None if knn is None else protein_graphs(records, knn)
        )


def protein_graphs(records: tuple[ProteinRecord, ...], k: int) -> tuple[np.ndarray, ...]:
    """Each protein's kNN C-alpha graph (k capped at its length - 1, for short proteins)."""
    out = []
    for record in records:
        if record.ca is None:
            raise DataError(f"record {record.id!r}: a kNN graph needs C-alpha coordinates")
        try:
            out.append(knn_edges(record.ca, min(k, len(record.ca) - 1)))
        except DataError as err:
            raise DataError(f"record {record.id!r}: {err}") from None
    return tuple(out)


def iter_documents(
    store: DocumentStore, collection: str, *, split: str | None = None, page: int = 1000
) -> Iterator[dict]:
    """Every document (of a split), keyset-paged in `_id` order, `page` at a time."""
    after = None
    while documents := store.page(collection, split=split, after=after, limit=page):
        yield from documents
        after = documents[-1]["_id"]


def collection_checksum(store: DocumentStore, collection: str) -> str:
    """The content checksum of a collection (`documents.content_checksum`, streamed): what
    provenance records, the same on both backends for the same documents."""
    return content_checksum(iter_documents(store, collection))


SHUFFLE_BUFFER = 4096
"""Proteins held for shuffling a training epoch (bounded: memory stays O(buffer + batch))."""
PAGE = 512
"""Documents per keyset page of a streamed epoch."""


def stream_records(
    store: DocumentStore,
    collection: str,
    *,
    split: str | None,
    page: int = PAGE,
) -> Iterator[ProteinRecord]:
    """Every record of a split in `_id` order, keyset-paged `page` at a time."""
    for document in iter_documents(store, collection, split=split, page=page):
        yield document_to_record(document)


def shuffled_records(
    records: Iterator[ProteinRecord], *, buffer: int, rng: np.random.Generator
) -> Iterator[ProteinRecord]:
    """`records` in a shuffled order, holding at most `buffer` of them at a time: each one
    read replaces a randomly chosen held record, which is yielded (tf.data's shuffle buffer,
    so the order depends on the seed and the buffer size, never on the store)."""
    if buffer < 1:
        raise ConfigError(f"shuffle buffer: expected >= 1 proteins, got {buffer}")
    held: list[ProteinRecord] = []
    for record in records:
        if len(held) < buffer:
            held.append(record)
            continue
        slot = int(rng.integers(len(held)))
        yield held[slot]
        held[slot] = record
    order = rng.permutation(len(held))
    for slot in order:
        yield held[int(slot)]


@dataclass(frozen=True)
class CollectionSummary:
    """One pass over a collection: what provenance records and what training needs to know
    before it streams (split sizes and, for a class label, class counts per split)."""

    count: int
    checksum: str
    """`content_checksum` of every document (the job id of a database dataset uses it)."""
    split_checksum: str
    """sha256 of the sorted `id<TAB>split` lines of the assigned documents (the checksum
    `dmsweep db split` records for its assignment)."""
    split_counts: dict[str, int]
    class_counts: dict[str, dict[str, int]]
    """split -> label value -> proteins (for the label summarised; {} otherwise)."""
    max_length: int


def summarise_collection(
    store: DocumentStore, collection: str, *, label: str | None = None, page: int = 1000
) -> CollectionSummary:
    """Stream every document once (O(page) memory) and summarise it."""
    import hashlib

    from dmsweep.db.documents import canonical_json

    content = hashlib.sha256()
    splits = hashlib.sha256()
    count, longest = 0, 0
    split_counts: dict[str, int] = {}
    class_counts: dict[str, dict[str, int]] = {}
    for document in iter_documents(store, collection, page=page):
        count += 1
        content.update(canonical_json(document).encode("utf-8"))
        content.update(b"\n")
        part = document.get("split")
        longest = max(longest, len(document.get("sequence") or ""))
        if part is None:
            continue
        splits.update(f"{document['_id']}\t{part}\n".encode())
        split_counts[part] = split_counts.get(part, 0) + 1
        if label is not None:
            value = (document.get("labels") or {}).get(label)
            if isinstance(value, str):
                by_class = class_counts.setdefault(part, {})
                by_class[value] = by_class.get(value, 0) + 1
    return CollectionSummary(
        count=count,
        checksum="sha256:" + content.hexdigest(),
        split_checksum="sha256:" + splits.hexdigest(),
        split_counts=dict(sorted(split_counts.items())),
        class_counts={k: dict(sorted(v.items())) for k, v in sorted(class_counts.items())},
        max_length=longest,
    )
