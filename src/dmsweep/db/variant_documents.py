"""A variant table written as protein documents: each variant a protein of its own.

The real check of a structure model on protein documents (docs/train.md, "avGFP variants as
protein documents"): every avGFP variant becomes a document holding its full sequence (the
wild type with its mutations; a stop codon stays `*`, the variant table's code 20), the
coordinates of the dataset's one structure (C-alpha and C-beta of its first chain, as the
shared graph reads them), its score as the numeric label `score`, and its part of a split
(`Split`: the published one, or reduced by `train_fraction`). A protein-set gcn streamed from
these documents then sees the variants the variant-table gcn sees, with the same graph.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dmsweep.data.datasets import Dataset
from dmsweep.data.graphs import chain_residues
from dmsweep.data.proteins import ProteinRecord
from dmsweep.data.splits import Split
from dmsweep.data.variants import ALPHABET
from dmsweep.db.ingest import META_INGEST, ingest_records
from dmsweep.db.store import DocumentStore
from dmsweep.errors import DataError

SCORE_LABEL = "score"
_LETTERS = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)


def variant_id(row: int) -> str:
    """A document id that sorts as the table's rows do (`_id` order = row order)."""
    return f"row{row:07d}"


def variant_records(dataset: Dataset, split: Split) -> Iterator[ProteinRecord]:
    """One record per variant of the split's parts, in row order."""
    structure = chain_residues(dataset.structure_path())
    if len(structure.sequence) != dataset.codes.shape[1]:
        raise DataError(
            f"{dataset.structure_path()}: {len(structure.sequence)} residues, the variants "
            f"have {dataset.codes.shape[1]}"
        )
    part_of = {}
    for part, rows in split.parts().items():
        part_of.update(dict.fromkeys(rows.tolist(), part))
    for row in sorted(part_of):
        sequence = _LETTERS[dataset.codes[row]].tobytes().decode("ascii")
        yield ProteinRecord(
            id=variant_id(row),
            sequence=sequence,
            labels={SCORE_LABEL: float(dataset.scores[row])},
            ca=structure.ca,
            cb=structure.cb,
            split=part_of[row],
        )


def write_variant_collection(
    store: DocumentStore, collection: str, dataset: Dataset, split: Split
) -> int:
    """The split's variants as documents of `collection` (idempotent by id), with the ingest
    record a training needs (one numeric label); returns how many were written."""
    read, _ = ingest_records(store, collection, variant_records(dataset, split))
    store.put_meta(
        collection, META_INGEST, {"card": dataset.card.name, "labels": {SCORE_LABEL: None}}
    )
    return read
