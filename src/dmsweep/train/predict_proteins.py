"""`dmsweep predict` for a model trained on a protein set: class probabilities (or a score)
of new proteins, and per-residue attention of a structure model.

A protein-set job folder holds the model with its encoding table; its metrics.json names the
task (label, classes), its config.json how each protein was cut (`max_residues`) and how its
residue graph was built (`graph`, `k`, `threshold`). Proteins come in three forms, all ending
as `ProteinRecord`s that go through the training's own batching (`batch_arrays`, the same
graph builder with the same settings):
- sequences (command line or a FASTA file): sequence models (`cnn`, `plm`) only, cut as in
  training (`residues_kept`: `max_residues`, a plm's first `max_length - 2` residues);
- PDB/mmCIF files, parsed with the project's structure reader (`chain_residues`; the chain
  from `--chain`, else the card's `chain` in the job folder's dataset.yaml, else the first);
- document ids in a store (`--db URI --collection NAME`), read with `DocumentStore.find`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from dmsweep.config import GCNParams, TrainConfig
from dmsweep.core.results import judge_folder
from dmsweep.data.card import ProteinSetCard, read_any_card
from dmsweep.data.graphs import STRUCTURE_SUFFIXES, chain_residues
from dmsweep.data.protein_batches import GraphSpec, batch_arrays
from dmsweep.data.proteins import ProteinRecord, fasta_records
from dmsweep.data.tasks import REGRESSION, Task, residues_kept
from dmsweep.errors import DataError, JobFolderError
from dmsweep.jobfiles import JobPaths

BATCH = 64


@dataclass(frozen=True)
class ProteinPrediction:
    ids: list[str]
    task: Task
    outputs: np.ndarray
    """(n, C) class probabilities, or (n,) scores of a regression."""


@dataclass(frozen=True)
class ProteinAttention:
    """One protein's attention pooling weights over the residues the model saw."""

    record: ProteinRecord
    weights: np.ndarray
    """float32 (L,) for the first L = min(length, max_residues) residues; sums to one."""
    edges: np.ndarray
    """int32 (E, 2) the residue graph the model used (both directions)."""


def is_protein_set_job(folder: Path) -> bool:
    """Whether a finished job folder was trained on a protein set: a database dataset, a
    classification task, or a protein-set card copied into the folder."""
    verdict = judge_folder(folder)
    if verdict.result is None:
        return False
    dataset = verdict.result.config.get("dataset")
    if isinstance(dataset, dict) or verdict.result.metrics.task != REGRESSION:
        return True
    card = JobPaths(Path(folder)).dataset_card
    return card.is_file() and isinstance(read_any_card(card), ProteinSetCard)


class TrainedProteinJob:
    """A finished protein-set job folder: config, task, graph settings, model on demand."""

    def __init__(self, folder: Path) -> None:
        from dmsweep.train.predict import read_job_config

        self.paths = JobPaths(Path(folder))
        self.config: TrainConfig = read_job_config(self.paths)
        verdict = judge_folder(self.paths.root)
        assert verdict.result is not None  # read_job_config refused a folder without one
        metrics = verdict.result.metrics
        self.task = Task(metrics.task, self.config.data.label, metrics.classes)
        self._model: Any = None

    @property
    def is_structure_model(self) -> bool:
        return isinstance(self.config.params, GCNParams)

    @property
    def graph(self) -> GraphSpec | None:
        from dmsweep.train.protein_set import graph_spec

        return graph_spec(self.config)

    @property
    def card_chain(self) -> str | None:
        """The chain the training's card names for its structure files (None: the first)."""
        card = self.paths.dataset_card
        if not card.is_file():
            return None
        read = read_any_card(card)
        return read.chain if isinstance(read, ProteinSetCard) else None

    @property
    def model(self) -> Any:
        if self._model is None:
            from dmsweep.models import load_model

            self._model = load_model(self.paths.model_file)
        return self._model

    def check_inputs(self, records: Sequence[ProteinRecord]) -> None:
        """DataError (one line, naming the protein) for what this model cannot score: a
        structure model needs coordinates (a residue without C-alpha is refused when its
        graph is built, by the training's own `protein_edges`)."""
        if not self.is_structure_model:
            return
        for record in records:
            if record.ca is None:
                raise DataError(
                    f"{record.id}: a bare sequence, but this job folder's {self.config.model} "
                    "needs coordinates: give PDB/mmCIF files, or document ids with --db URI "
                    "--collection NAME"
                )

    def _inputs(self, records: Sequence[ProteinRecord]) -> dict[str, np.ndarray]:
        inputs, _ = batch_arrays(
            records, task=None, graph=self.graph, max_length=residues_kept(self.config)
        )
        return inputs

    def predict(self, records: Sequence[ProteinRecord]) -> ProteinPrediction:
        """Class probabilities (or scores) of each protein, BATCH at a time."""
        from dmsweep.models.proteins import protein_probabilities

        self.check_inputs(records)
        outputs = [
            protein_probabilities(self.model, self._inputs(chunk), self.task)
            for chunk in _chunks(records)
        ]
        return ProteinPrediction([r.id for r in records], self.task, np.concatenate(outputs))

    def check_attention(self) -> None:
        params = self.config.params
        if not (isinstance(params, GCNParams) and params.pooling == "attention"):
            raise JobFolderError(
                f"{self.paths.root}: --attention needs a gcn trained with pooling: attention "
                f"(this job: model {self.config.model!r})"
            )

    def attention(self, records: Sequence[ProteinRecord]) -> list[ProteinAttention]:
        """Each protein's attention weights over its residues (they sum to one)."""
        from dmsweep.data.protein_batches import protein_edges
        from dmsweep.models.proteins import protein_attention

        self.check_attention()
        self.check_inputs(records)
        graph = self.graph
        assert graph is not None
        out = []
        for chunk in _chunks(records):
            weights = protein_attention(self.model, self._inputs(chunk))
            for row, record in enumerate(chunk):
                length = len(record.sequence[: residues_kept(self.config)])
                edges = protein_edges(record, graph, length)
                out.append(ProteinAttention(record, weights[row, :length], edges))
        return out


def _chunks(records: Sequence[ProteinRecord]) -> list[Sequence[ProteinRecord]]:
    return [records[start : start + BATCH] for start in range(0, len(records), BATCH)]


# ---------------------------------------------------------------------------------- inputs


def read_sequences(args: list[str], file: Path | None) -> list[ProteinRecord]:
    """Records of a FASTA file, or of sequences given as arguments (`seq1`, `seq2`, ...)."""
    if file is not None:
        return [ProteinRecord(id=r.id, sequence=r.sequence) for r in fasta_records(Path(file))]
    out = []
    for number, arg in enumerate(args, start=1):
        sequence = "".join(arg.split()).upper()
        if not sequence.isalpha():
            raise DataError(f"argument {number}: not a protein sequence: {arg[:30]!r}")
        out.append(ProteinRecord(id=f"seq{number}", sequence=sequence))
    return out


def looks_like_structure(arg: str) -> bool:
    """An argument naming a structure file (by suffix, or an existing file)."""
    return Path(arg).suffix.lower() in STRUCTURE_SUFFIXES or Path(arg).is_file()


def read_structures(paths: Sequence[Path], *, chain: str | None) -> list[ProteinRecord]:
    """One record per PDB/mmCIF file (id: the file's stem); a file that is not a readable
    structure is a DataError naming it."""
    out = []
    for path in paths:
        path = Path(path)
        if path.suffix.lower() not in STRUCTURE_SUFFIXES:
            raise DataError(
                f"{path}: not a structure file (expected {', '.join(STRUCTURE_SUFFIXES)})"
            )
        residues = chain_residues(path, chain=chain)
        out.append(
            ProteinRecord(id=path.stem, sequence=residues.sequence, ca=residues.ca, cb=residues.cb)
        )
    return out


def read_documents(
    uri: str,
    collection: str,
    ids: Sequence[str],
    *,
    credentials_file: Path | None = None,
    timeout: float = 5.0,
) -> list[ProteinRecord]:
    """The records of documents `ids` (in the order given); DataError naming an unknown id."""
    from dmsweep.db import open_store
    from dmsweep.db.documents import document_to_record

    store = open_store(uri, credentials_file=credentials_file, timeout=timeout)
    try:
        found = {doc["_id"]: doc for doc in store.find(collection, ids)}
    finally:
        store.close()
    for doc_id in ids:
        if doc_id not in found:
            raise DataError(
                f"{store.address.display}: collection {collection!r} has no document {doc_id!r}"
            )
    return [document_to_record(found[doc_id]) for doc_id in ids]


# --------------------------------------------------------------------------------- outputs


def write_protein_prediction(prediction: ProteinPrediction, stream: IO[str]) -> None:
    """CSV: id,predicted_class,p_<class>... (regression: id,predicted_score)."""
    writer = csv.writer(stream, lineterminator="\n")
    classes = prediction.task.classes
    if not prediction.task.is_classification:
        writer.writerow(["id", "predicted_score"])
        for doc_id, score in zip(prediction.ids, prediction.outputs, strict=True):
            writer.writerow([doc_id, f"{float(score):.9g}"])
        return
    writer.writerow(["id", "predicted_class", *(f"p_{c}" for c in classes)])
    for doc_id, proba in zip(prediction.ids, prediction.outputs, strict=True):
        best = classes[int(np.argmax(proba))]
        writer.writerow([doc_id, best, *(f"{float(p):.6g}" for p in proba)])


def write_attention_table(attention: Sequence[ProteinAttention], path: Path) -> None:
    """attention.csv: one row per residue, `id,position,residue,attention` (1-based)."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["id", "position", "residue", "attention"])
        for one in attention:
            for position, weight in enumerate(one.weights, start=1):
                residue = one.record.sequence[position - 1]
                writer.writerow([one.record.id, position, residue, f"{float(weight):.6g}"])


def plot_file_name(protein_id: str) -> str:
    """A file name for a protein's plot: its id with anything but letters, digits, `.`, `_`
    and `-` replaced (ids from a database may hold slashes)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", protein_id).lstrip(".") + ".png"
