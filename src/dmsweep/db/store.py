"""The one small interface both document stores implement, and `open_store` that picks one.

Everything above it (ingest, split, the streaming reader) is written against
`DocumentStore` (`dmsweep.db.open_store` opens one), so the embedded SQLite file and a
MongoDB-protocol server give the same documents, counts, checksums and split assignments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dmsweep.core.dbaddress import StoreAddress
from dmsweep.db.documents import Document

DEFAULT_TIMEOUT = 5.0
"""Seconds to find a server before giving up with a one-line error."""


@dataclass(frozen=True)
class UpsertCounts:
    """What a bulk upsert did: ingesting the same source twice inserts nothing the 2nd time."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


class DocumentStore(Protocol):
    """A document database holding protein documents in named collections."""

    address: StoreAddress

    def upsert(self, collection: str, documents: Sequence[Document]) -> UpsertCounts:
        """Insert or replace each document by `_id` (a document without `split` keeps the
        stored one, so re-ingesting never undoes `db split`)."""
        ...

    def count(self, collection: str, *, split: str | None = None) -> int:
        """Documents in the collection, or in one split."""
        ...

    def page(
        self, collection: str, *, split: str | None, after: str | None, limit: int
    ) -> list[Document]:
        """Up to `limit` documents with `_id` > `after`, in `_id` order (keyset paging:
        `{"split": s, "_id": {"$gt": after}}` sorted, limited; never skip). `split` None:
        every document."""
        ...

    def find(self, collection: str, ids: Sequence[str]) -> list[Document]:
        """The documents with these `_id`s that exist, in `_id` order (what `predict` reads
        for ids given on its command line: an index lookup, never a scan)."""
        ...

    def set_split(self, collection: str, ids: Sequence[str], split: str) -> int:
        """`update_many` of the split of the documents `ids`; returns how many matched."""
        ...

    def put_meta(self, collection: str, key: str, value: Mapping[str, Any]) -> None:
        """Store a metadata record about the collection (its split, its ingest)."""
        ...

    def get_meta(self, collection: str, key: str) -> dict[str, Any] | None:
        """A metadata record, or None."""
        ...

    def close(self) -> None: ...
