"""Protein sets in a document database: the embedded SQLite file or a MongoDB-protocol server
behind one small interface (`DocumentStore`), bulk ingest, stratified splits written back
into the documents, and keyset-paged streaming of mini-batches (docs/data.md).

No TensorFlow here, nor the run builder or the aggregator (tests/test_import_graph.py);
pymongo is imported only when a mongodb:// URI is opened.
"""

from __future__ import annotations

from pathlib import Path

from dmsweep.core.dbaddress import StoreAddress, parse_address, redact, resolve_credentials
from dmsweep.db.store import DEFAULT_TIMEOUT, DocumentStore, UpsertCounts

__all__ = [
    "DEFAULT_TIMEOUT",
    "DocumentStore",
    "StoreAddress",
    "UpsertCounts",
    "open_store",
    "parse_address",
    "redact",
]


def open_store(
    uri: str, *, credentials_file: Path | None = None, timeout: float = DEFAULT_TIMEOUT
) -> DocumentStore:
    """The store a URI names (sqlite:///file.db or a path; mongodb://host/db); a server is
    pinged first, so an unreachable one is a one-line DatabaseError within `timeout` s."""
    address = parse_address(uri)
    if address.kind == "sqlite":
        from dmsweep.db.sqlite import SqliteStore

        return SqliteStore(address, timeout=timeout)
    from dmsweep.db.mongo import MongoStore

    credentials = resolve_credentials(address, credentials_file=credentials_file)
    return MongoStore(address, credentials=credentials, timeout=timeout)
