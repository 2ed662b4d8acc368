"""A document store held in this process: the records of a card-based protein set.

`dmsweep train` on a protein-set card (e.g. `dataset: scl2205`) reads the card's records once
into a `MemoryStore` and then goes through the same streaming code as a database dataset
(keyset pages, shuffle buffer, padded batches): one pipeline, whatever holds the documents.
It implements `DocumentStore`; `page` is a binary search in the sorted ids.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Mapping, Sequence
from typing import Any

from dmsweep.core.dbaddress import StoreAddress
from dmsweep.db.documents import Document
from dmsweep.db.store import UpsertCounts


class MemoryStore:
    """A `DocumentStore` of plain dicts, one sorted id list per (collection, split)."""

    def __init__(self, name: str = "memory") -> None:
        self.address = StoreAddress(kind="memory", display=f"memory://{name}")
        self._documents: dict[str, dict[str, Document]] = {}
        self._ids: dict[tuple[str, str | None], list[str]] = {}
        self._meta: dict[tuple[str, str], dict[str, Any]] = {}

    def upsert(self, collection: str, documents: Sequence[Document]) -> UpsertCounts:
        stored = self._documents.setdefault(collection, {})
        counts = UpsertCounts()
        for document in documents:
            old = stored.get(document["_id"])
            new = dict(document)
            if "split" not in new and old is not None and "split" in old:
                new["split"] = old["split"]
            if old == new:
                counts += UpsertCounts(unchanged=1)
                continue
            counts += UpsertCounts(inserted=1) if old is None else UpsertCounts(updated=1)
            stored[new["_id"]] = new
        self._reindex(collection)
        return counts

    def _reindex(self, collection: str) -> None:
        for key in [k for k in self._ids if k[0] == collection]:
            del self._ids[key]
        stored = self._documents.get(collection, {})
        ids = sorted(stored)
        self._ids[(collection, None)] = ids
        for doc_id in ids:
            split = stored[doc_id].get("split")
            if split is not None:
                self._ids.setdefault((collection, split), []).append(doc_id)

    def count(self, collection: str, *, split: str | None = None) -> int:
        return len(self._ids.get((collection, split), []))

    def page(
        self, collection: str, *, split: str | None, after: str | None, limit: int
    ) -> list[Document]:
        ids = self._ids.get((collection, split), [])
        start = 0 if after is None else bisect.bisect_right(ids, after)
        stored = self._documents[collection] if ids else {}
        return [copy.copy(stored[i]) for i in ids[start : start + limit]]

    def find(self, collection: str, ids: Sequence[str]) -> list[Document]:
        stored = self._documents.get(collection, {})
        return [copy.copy(stored[i]) for i in sorted(set(ids)) if i in stored]

    def set_split(self, collection: str, ids: Sequence[str], split: str) -> int:
        stored = self._documents.get(collection, {})
        matched = 0
        for doc_id in ids:
            if doc_id in stored:
                stored[doc_id]["split"] = split
                matched += 1
        self._reindex(collection)
        return matched

    def put_meta(self, collection: str, key: str, value: Mapping[str, Any]) -> None:
        self._meta[(collection, key)] = dict(value)

    def get_meta(self, collection: str, key: str) -> dict[str, Any] | None:
        found = self._meta.get((collection, key))
        return None if found is None else dict(found)

    def close(self) -> None:
        pass
