"""The embedded default store: one SQLite file (standard library), documents as JSON.

Table `documents(collection, id, split, body)`, primary key (collection, id), index on
(collection, split, id), so a split's keyset page is one index range scan. `_id` and `split`
are columns, the rest of the document is `body` (compact JSON).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from dmsweep.core.dbaddress import StoreAddress
from dmsweep.db.documents import Document, canonical_json
from dmsweep.db.store import UpsertCounts
from dmsweep.errors import DatabaseError

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL, id TEXT NOT NULL, split TEXT, body TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS documents_split ON documents (collection, split, id);
CREATE TABLE IF NOT EXISTS meta (
    collection TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (collection, key)
);
"""
CHUNK = 500
"""Ids per `IN (...)` (SQLite's default limit is 32,766 variables)."""
Result = TypeVar("Result")


def _one_line_errors(method: Callable[..., Result]) -> Callable[..., Result]:
    """SQLite's errors (locked, read-only, disk full, not a database) as one DatabaseError
    line naming the file and the operation; one call at a time (the store is shared by the
    threads of a tf.data pipeline)."""

    @functools.wraps(method)
    def wrapped(self: SqliteStore, *args: Any, **kwargs: Any) -> Result:
        try:
            with self._lock:
                return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            doing = method.__name__.replace("_", " ")
            raise DatabaseError(f"{self.address.display}: {doing} failed: {err}") from None

    return wrapped


class SqliteStore:
    """A `DocumentStore` in one local SQLite file (created on first use)."""

    def __init__(self, address: StoreAddress, *, timeout: float) -> None:
        assert address.path is not None
        self.address = address
        self._lock = threading.RLock()
        try:
            address.path.parent.mkdir(parents=True, exist_ok=True)
            # tf.data reads pages from its own threads: one connection, one call at a time
            self._db = sqlite3.connect(address.path, timeout=timeout, check_same_thread=False)
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise DatabaseError(f"{address.display}: cannot open the database: {err}") from None

    @_one_line_errors
    def upsert(self, collection: str, documents: Sequence[Document]) -> UpsertCounts:
        rows = {doc["_id"]: doc for doc in documents}
        stored = self._stored(collection, list(rows))
        counts = UpsertCounts()
        with self._db:
            for doc_id, doc in rows.items():
                body = canonical_json({k: v for k, v in doc.items() if k not in ("_id", "split")})
                old = stored.get(doc_id)
                split = doc.get("split", old[0] if old else None)
                if old == (split, body):
                    counts += UpsertCounts(unchanged=1)
                    continue
                counts += UpsertCounts(inserted=1) if old is None else UpsertCounts(updated=1)
                self._db.execute(
                    "INSERT INTO documents (collection, id, split, body) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (collection, id) DO UPDATE SET split = excluded.split, "
                    "body = excluded.body",
                    (collection, doc_id, split, body),
                )
        return counts

    def _stored(self, collection: str, ids: list[str]) -> dict[str, tuple[str | None, str]]:
        out = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor = self._db.execute(
                f"SELECT id, split, body FROM documents WHERE collection = ? AND id IN ({marks})",
                (collection, *chunk),
            )
            out.update({row[0]: (row[1], row[2]) for row in cursor})
        return out

    @_one_line_errors
    def count(self, collection: str, *, split: str | None = None) -> int:
        if split is None:
            query, args = "SELECT COUNT(*) FROM documents WHERE collection = ?", (collection,)
        else:
            query = "SELECT COUNT(*) FROM documents WHERE collection = ? AND split = ?"
            args = (collection, split)
        return int(self._db.execute(query, args).fetchone()[0])

    @_one_line_errors
    def page(
        self, collection: str, *, split: str | None, after: str | None, limit: int
    ) -> list[Document]:
        where, args = ["collection = ?"], [collection]
        if split is not None:
            where.append("split = ?")
            args.append(split)
        if after is not None:
            where.append("id > ?")
            args.append(after)
        cursor = self._db.execute(
            f"SELECT id, split, body FROM documents WHERE {' AND '.join(where)} "
            "ORDER BY id LIMIT ?",
            (*args, limit),
        )
        return [_document(row) for row in cursor]

    @_one_line_errors
    def find(self, collection: str, ids: Sequence[str]) -> list[Document]:
        stored = self._stored(collection, list(dict.fromkeys(ids)))
        return [_document((doc_id, *stored[doc_id])) for doc_id in sorted(stored)]

    @_one_line_errors
    def set_split(self, collection: str, ids: Sequence[str], split: str) -> int:
        matched = 0
        with self._db:
            for start in range(0, len(ids), CHUNK):
                chunk = list(ids[start : start + CHUNK])
                marks = ",".join("?" * len(chunk))
                cursor = self._db.execute(
                    f"UPDATE documents SET split = ? WHERE collection = ? AND id IN ({marks})",
                    (split, collection, *chunk),
                )
                matched += cursor.rowcount
        return matched

    @_one_line_errors
    def put_meta(self, collection: str, key: str, value: Mapping[str, Any]) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO meta (collection, key, body) VALUES (?, ?, ?) "
                "ON CONFLICT (collection, key) DO UPDATE SET body = excluded.body",
                (collection, key, canonical_json(value)),
            )

    @_one_line_errors
    def get_meta(self, collection: str, key: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT body FROM meta WHERE collection = ? AND key = ?", (collection, key)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def close(self) -> None:
        self._db.close()


def _document(row: tuple[str, str | None, str]) -> Document:
    doc_id, split, body = row
    document: Document = {"_id": doc_id, **json.loads(body)}
    if split is not None:
        document["split"] = split
    return document
