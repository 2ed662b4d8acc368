"""`dmsweep db ingest`: the records of a protein set into a collection, in bulk, by id.

Idempotent: a document is upserted by `_id`, so ingesting the same source twice inserts
nothing the second time (`UpsertCounts.unchanged`). Memory is O(chunk): records are read,
converted and written `chunk` at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dmsweep.data.proteins import ProteinRecord, ProteinSetReading
from dmsweep.db.documents import record_to_document
from dmsweep.db.store import DocumentStore, UpsertCounts

META_INGEST = "ingest"
CHUNK = 1000


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did: records read and skipped, and what the upserts changed."""

    collection: str
    read: int
    skipped: int
    counts: UpsertCounts
    total: int
    """Documents in the collection afterwards."""


def ingest_records(
    store: DocumentStore,
    collection: str,
    records: Iterable[ProteinRecord],
    *,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, UpsertCounts]:
    """Upsert records `chunk` at a time; (records read, counts)."""
    counts = UpsertCounts()
    read = 0
    batch = []
    for record in records:
        batch.append(record_to_document(record))
        if len(batch) == chunk:
            counts += store.upsert(collection, batch)
            read += len(batch)
            if progress is not None:
                progress(len(batch))
            batch = []
    if batch:
        counts += store.upsert(collection, batch)
        read += len(batch)
        if progress is not None:
            progress(len(batch))
    return read, counts


def ingest_protein_set(
    store: DocumentStore,
    collection: str,
    reading: ProteinSetReading,
    *,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest a card's records and record which card and labels the collection holds."""
    read, counts = ingest_records(store, collection, reading, chunk=chunk, progress=progress)
    card = reading.card
    store.put_meta(
        collection,
        META_INGEST,
        {
            "card": card.name,
            "labels": {s.name: None if s.classes is None else list(s.classes) for s in card.labels},
        },
    )
    return IngestReport(
        collection=collection,
        read=read,
        skipped=reading.skipped,
        counts=counts,
        total=store.count(collection),
    )
