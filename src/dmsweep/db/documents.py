"""A protein as a JSON document, the same on both backends (docs/data.md):

    {"_id": "P12345", "sequence": "MKT...", "length": 3, "labels": {"location": "Nucleus"},
     "ca": [[x, y, z], ...] | null, "cb": [[x, y, z], [null, null, null], ...] | null,
     "split": "train"}            # "split" absent until assigned

Coordinates are rounded to 3 decimals (the precision of a PDB file), a missing atom is
nulls, so the document is plain JSON (no NaN) and BSON alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from dmsweep.data.proteins import ProteinRecord
from dmsweep.errors import DataError

Document = dict[str, Any]
COORDINATE_DECIMALS = 3


def record_to_document(record: ProteinRecord) -> Document:
    """The document stored for a record (`split` only when the record has one)."""
    document: Document = {
        "_id": record.id,
        "sequence": record.sequence,
        "length": len(record.sequence),
        "labels": dict(record.labels),
        "ca": _coordinates_to_json(record.ca),
        "cb": _coordinates_to_json(record.cb),
    }
    if record.split is not None:
        document["split"] = record.split
    return document


def document_to_record(document: Mapping[str, Any]) -> ProteinRecord:
    """The record a stored document holds; DataError naming the document if it is not one."""
    doc_id = document.get("_id")
    try:
        return ProteinRecord(
            id=str(doc_id),
            sequence=str(document["sequence"]),
            labels=dict(document.get("labels") or {}),
            ca=_coordinates_from_json(document.get("ca")),
            cb=_coordinates_from_json(document.get("cb")),
            split=document.get("split"),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"document {doc_id!r}: not a protein document ({err})") from None


def _coordinates_to_json(coords: np.ndarray | None) -> list[list[float | None]] | None:
    if coords is None:
        return None
    rows = np.round(coords.astype(np.float64), COORDINATE_DECIMALS).tolist()
    if np.isnan(coords).any():
        rows = [[None if value != value else value for value in row] for row in rows]
    return rows


def _coordinates_from_json(rows: Any) -> np.ndarray | None:
    if rows is None:
        return None
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3).astype(np.float32)


def canonical_json(document: Mapping[str, Any]) -> str:
    """One text per document whatever the backend returned: sorted keys, no spaces."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_checksum(documents: Iterable[Mapping[str, Any]]) -> str:
    """`sha256:` of the canonical JSON of documents given in `_id` order, one per line:
    the same collection gives the same checksum on SQLite and on a MongoDB server."""
    digest = hashlib.sha256()
    for document in documents:
        digest.update(canonical_json(document).encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()
