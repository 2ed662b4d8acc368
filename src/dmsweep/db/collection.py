"""What a build needs to know of a collection before it queues trainings on it: where it is
(the URI without secrets), how many documents it holds, their content checksum (the job id
of a database dataset depends on it) and the labels its ingest recorded.

The run builder reads this once at build time (docs/run-builder.md); jobs read it again
and refuse a collection whose checksum changed since (train/protein_set.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dmsweep.db import DEFAULT_TIMEOUT, open_store
from dmsweep.db.ingest import META_INGEST
from dmsweep.db.stream import summarise_collection
from dmsweep.errors import DatabaseError, DataError


@dataclass(frozen=True)
class CollectionInfo:
    """One collection as a build saw it."""

    db: str
    """The URI without any secret (`StoreAddress.display`): what messages and manifests show."""
    kind: str
    """sqlite (a local file) or mongodb (a server the jobs must reach)."""
    collection: str
    documents: int
    checksum: str
    labels: Mapping[str, Sequence[str] | None]
    """label -> its classes (None: a numeric label), as `dmsweep db ingest` recorded them."""


def describe_collection(
    uri: str, collection: str, *, timeout: float = DEFAULT_TIMEOUT
) -> CollectionInfo:
    """Count and checksum a collection (one streamed pass); a one-line DataError naming the
    redacted URI and the collection if the server is unreachable or the collection is
    absent, empty or was not written by `dmsweep db ingest`."""
    try:
        store = open_store(uri, timeout=timeout)
    except DatabaseError as err:
        raise DataError(f"collection {collection!r}: {err}") from None
    try:
        where = f"{store.address.display}: collection {collection!r}"
        if store.count(collection) == 0:
            raise DataError(f"{where}: empty or absent (ingest it with `dmsweep db ingest`)")
        meta = store.get_meta(collection, META_INGEST)
        if meta is None or not isinstance(meta.get("labels"), dict):
            raise DataError(
                f"{where}: no ingest record (labels): write it with `dmsweep db ingest`"
            )
        summary = summarise_collection(store, collection)
        return CollectionInfo(
            db=store.address.display,
            kind=store.address.kind,
            collection=collection,
            documents=summary.count,
            checksum=summary.checksum,
            labels=dict(meta["labels"]),
        )
    finally:
        store.close()
