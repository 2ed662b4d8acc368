"""Mini-batches of proteins of different lengths as padded arrays (padded batch mode).

A batch of B proteins becomes int8 residue codes (B, L_max) padded with `PAD_CODE` (the model
masks those positions), the labels, and for graph models each protein's residue graph as a
padded edge list: int32 (B, E_max, 2) (source, target) pairs with float32 (B, E_max) weights
1 / in-degree (the neighbour average `D^-1 A` of the variant GCN), 0 on padding edges. Every
array is dense and padded to the batch's largest protein, so a batch splits across replicas
under MirroredStrategy (spektral's disjoint mode, with its sparse adjacency and graph index,
does not: docs/train.md). No L x L matrix is ever made: a 4,924-residue protein's kNN graph
is 2 L k edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dmsweep.data.graphs import distance_edges, knn_edges
from dmsweep.data.proteins import ProteinRecord
from dmsweep.data.tasks import REGRESSION, Task
from dmsweep.data.variants import ALPHABET
from dmsweep.errors import DataError

UNKNOWN_CODE = len(ALPHABET)
"""X, B, Z, U, O and any other letter outside the 20 amino acids (and stop)."""
PAD_CODE = UNKNOWN_CODE + 1
"""Past the end of a protein: an all-zero row of the table, and masked by the model."""
NUM_CODES = PAD_CODE + 1
_CODES = np.full(256, UNKNOWN_CODE, dtype=np.int8)
for _code, _letter in enumerate(ALPHABET):
    _CODES[ord(_letter)] = _code


def protein_table(table: np.ndarray) -> np.ndarray:
    """float32 (23, F): the (21, F) encoding table, a row for an unknown residue (the mean of
    the 20 amino acids' rows) and an all-zero padding row."""
    base = np.asarray(table, dtype=np.float32)
    if base.shape[0] != len(ALPHABET):
        raise ValueError(f"expected a ({len(ALPHABET)}, F) table, got {base.shape}")
    unknown = base[:20].mean(axis=0, keepdims=True)
    return np.concatenate([base, unknown, np.zeros_like(unknown)], axis=0)


def sequence_codes(sequence: str) -> np.ndarray:
    """int8 (L,) codes of a protein sequence (upper case; unknown letters UNKNOWN_CODE)."""
    return _CODES[np.frombuffer(sequence.upper().encode("ascii", "replace"), dtype=np.uint8)]


def padded_codes(sequences: Sequence[str]) -> np.ndarray:
    """int8 (B, L_max) codes, PAD_CODE past the end of each sequence."""
    width = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), max(width, 1)), PAD_CODE, dtype=np.int8)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = sequence_codes(sequence)
    return out


@dataclass(frozen=True)
class GraphSpec:
    """How each protein's residue graph is built: `knn` on C-alpha (k, capped at L - 1) or
    `distance` below `threshold` Angstrom between C-beta atoms (C-alpha where a residue has
    no C-beta), as the variant GCN's shared graph (`dmsweep.data.graphs.residue_graph`)."""

    kind: str
    k: int | None = None
    threshold: float | None = None


def protein_edges(record: ProteinRecord, graph: GraphSpec, length: int) -> np.ndarray:
    """int32 (E, 2) directed edges (both directions) of the first `length` residues."""
    if record.ca is None:
        raise DataError(f"record {record.id!r}: a graph model needs C-alpha coordinates")
    ca = record.ca[:length]
    if np.isnan(ca).any():
        missing = int(np.isnan(ca).any(axis=1).sum())
        raise DataError(f"record {record.id!r}: no C-alpha for {missing} residues")
    if length < 2:
        return np.zeros((0, 2), dtype=np.int32)
    try:
        if graph.kind == "knn":
            assert graph.k is not None
            return knn_edges(ca, min(graph.k, length - 1))
        assert graph.threshold is not None
        beta = ca if record.cb is None else record.cb[:length]
        beta = np.where(np.isnan(beta), ca, beta)
        return distance_edges(beta, graph.threshold)
    except DataError as err:
        raise DataError(f"record {record.id!r}: {err}") from None


def padded_edges(edges: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """int32 (B, E_max, 2) edges and float32 (B, E_max) weights 1 / in-degree of the target
    (0 on padding: a padded edge (0, 0) then adds nothing)."""
    width = max((len(e) for e in edges), default=0)
    pairs = np.zeros((len(edges), max(width, 1), 2), dtype=np.int32)
    weights = np.zeros((len(edges), max(width, 1)), dtype=np.float32)
    for row, own in enumerate(edges):
        if len(own) == 0:
            continue
        pairs[row, : len(own)] = own
        degree = np.bincount(own[:, 1], minlength=int(own.max()) + 1).astype(np.float32)
        weights[row, : len(own)] = 1.0 / degree[own[:, 1]]
    return pairs, weights


def label_values(records: Sequence[ProteinRecord], task: Task) -> np.ndarray:
    """The targets of a batch: float32 numbers (regression), or int32 class indices."""
    assert task.label is not None
    if task.kind == REGRESSION:
        return np.array([float(r.labels[task.label]) for r in records], dtype=np.float32)
    index = {name: i for i, name in enumerate(task.classes)}
    out = np.empty(len(records), dtype=np.int32)
    for row, record in enumerate(records):
        value = record.labels.get(task.label)
        if value not in index:
            raise DataError(
                f"record {record.id!r}: label {task.label!r} is {value!r}, not one of "
                f"{list(task.classes)}"
            )
        out[row] = index[value]
    return out


def batch_arrays(
    records: Sequence[ProteinRecord],
    *,
    task: Task | None,
    graph: GraphSpec | None = None,
    max_length: int | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """(model inputs, targets or None) of one batch: `codes`, and with a graph `edges` and
    `edge_weights`; sequences cut to `max_length` residues."""
    sequences = [r.sequence[:max_length] if max_length else r.sequence for r in records]
    inputs = {"codes": padded_codes(sequences)}
    if graph is not None:
        edges = [protein_edges(r, graph, len(s)) for r, s in zip(records, sequences, strict=True)]
        inputs["edges"], inputs["edge_weights"] = padded_edges(edges)
    targets = None if task is None or task.label is None else label_values(records, task)
    return inputs, targets


def class_weights(counts: Mapping[str, int], classes: Sequence[str]) -> np.ndarray:
    """float32 (C,) `balanced` weights n / (C n_c) of the training set's class counts (a class
    absent from it weighs 0: no protein carries it)."""
    n = float(sum(counts.values()))
    present = [c for c in classes if counts.get(c, 0) > 0]
    return np.array(
        [n / (len(present) * counts[c]) if counts.get(c, 0) > 0 else 0.0 for c in classes],
        dtype=np.float32,
    )
