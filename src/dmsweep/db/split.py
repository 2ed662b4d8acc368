"""`dmsweep db split`: a stratified train/tune/test assignment written back into the documents.

Deterministic on any backend: the (id, class) pairs are read in `_id` order, grouped by class
(classes sorted), and each class is permuted by one `numpy.random.default_rng(seed)` in that
order; the first `round(f_train * n)` of a class are train, up to `round((f_train + f_tune)
* n)` tune, the rest test. The assignment's checksum is `sha256:` of the sorted
`id<TAB>part` lines; it is recorded with the label, fractions and seed as the collection's
metadata record `split`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from dmsweep.data.card import SPLIT_PARTS
from dmsweep.db.store import DocumentStore
from dmsweep.errors import ConfigError, DataError

META_SPLIT = "split"
PAGE = 5000


@dataclass(frozen=True)
class SplitRecord:
    """What `db split` did, as stored beside the collection and printed."""

    label: str
    fractions: tuple[float, float, float]
    seed: int
    checksum: str
    counts: dict[str, dict[str, int]]
    """part -> class -> proteins."""

    def to_json(self) -> dict:
        return asdict(self)


def parse_fractions(text: str) -> tuple[float, float, float]:
    """`0.8,0.1,0.1` -> train, tune, test fractions (each >= 0, summing to 1)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1) > 1e-6:
        raise ConfigError(
            f"--fractions {text!r}: expected three fractions train,tune,test summing to 1, "
            "e.g. 0.8,0.1,0.1"
        )
    return values[0], values[1], values[2]


def stratified_assignment(
    pairs: Sequence[tuple[str, str]], *, fractions: Sequence[float], seed: int
) -> dict[str, str]:
    """id -> part for (id, class) pairs, stratified by class (see the module docstring)."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for doc_id, value in pairs:
        by_class[value].append(doc_id)
    rng = np.random.default_rng(seed)
    bounds = np.cumsum(fractions)
    out: dict[str, str] = {}
    for value in sorted(by_class):
        ids = sorted(by_class[value])
        order = rng.permutation(len(ids))
        cuts = [round(float(b) * len(ids)) for b in bounds[:2]]
        for rank, index in enumerate(order):
            part = 0 if rank < cuts[0] else 1 if rank < cuts[1] else 2
            out[ids[index]] = SPLIT_PARTS[part]
    return out


def assignment_checksum(assignment: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for doc_id in sorted(assignment):
        digest.update(f"{doc_id}\t{assignment[doc_id]}\n".encode())
    return "sha256:" + digest.hexdigest()


def label_pairs(store: DocumentStore, collection: str, label: str) -> Iterator[tuple[str, str]]:
    """(id, class) of every document, keyset-paged; DataError for a document without it."""
    after = None
    while page := store.page(collection, split=None, after=after, limit=PAGE):
        for document in page:
            value = (document.get("labels") or {}).get(label)
            if not isinstance(value, str):
                raise DataError(
                    f"{store.address.display} {collection}: document {document['_id']!r}: "
                    f"no class label {label!r} to stratify on (got {value!r})"
                )
            yield document["_id"], value
        after = page[-1]["_id"]


def split_collection(
    store: DocumentStore,
    collection: str,
    *,
    label: str,
    fractions: Sequence[float],
    seed: int,
) -> SplitRecord:
    """Assign, write back with update_many (one per part and chunk), record, return."""
    pairs = list(label_pairs(store, collection, label))
    if not pairs:
        raise DataError(f"{store.address.display}: collection {collection!r} is empty")
    assignment = stratified_assignment(pairs, fractions=fractions, seed=seed)
    labels = dict(pairs)
    counts: dict[str, dict[str, int]] = {part: {} for part in SPLIT_PARTS}
    for part in SPLIT_PARTS:
        ids = sorted(i for i, p in assignment.items() if p == part)
        for doc_id in ids:
            counts[part][labels[doc_id]] = counts[part].get(labels[doc_id], 0) + 1
        store.set_split(collection, ids, part)
    record = SplitRecord(
        label=label,
        fractions=(float(fractions[0]), float(fractions[1]), float(fractions[2])),
        seed=seed,
        checksum=assignment_checksum(assignment),
        counts={part: dict(sorted(c.items())) for part, c in counts.items()},
    )
    store.put_meta(collection, META_SPLIT, record.to_json())
    return record
