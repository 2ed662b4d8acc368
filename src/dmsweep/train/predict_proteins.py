"""`dmsweep predict` for a model trained on a protein set: class probabilities of sequences.

A protein-set job folder holds the model with its encoding table; its metrics.json names the
task (label, classes). A sequence model (`cnn`, or a `plm`, which tokenises inside the model)
scores sequences given on the command line or in a FASTA file; each is cut as in training
(`residues_kept`: `max_residues`, a plm's `max_length - 2`). Structure models (`gcn`)
need coordinates (PDB files or document ids): not yet.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from dmsweep.config import CNNParams, PLMParams, TrainConfig
from dmsweep.core.results import judge_folder
from dmsweep.data.protein_batches import batch_arrays
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


def is_protein_set_job(folder: Path) -> bool:
    """Whether a finished job folder's metrics.json names a protein-set task."""
    verdict = judge_folder(folder)
    if verdict.result is None:
        return False
    dataset = verdict.result.config.get("dataset")
    return isinstance(dataset, dict) or verdict.result.metrics.task != REGRESSION


def read_sequences(args: list[str], file: Path | None) -> list[tuple[str, str]]:
    """(id, sequence) pairs: a FASTA file's records, or `seq1`, `seq2`, ... for arguments."""
    if file is not None:
        return [(r.id, r.sequence) for r in fasta_records(Path(file))]
    return [(f"seq{i}", "".join(a.split()).upper()) for i, a in enumerate(args, start=1)]


def predict_sequences(folder: Path, sequences: list[tuple[str, str]]) -> ProteinPrediction:
    """Class probabilities (or scores) of each sequence with the job's model."""
    from dmsweep.models import load_model
    from dmsweep.models.proteins import protein_probabilities
    from dmsweep.train.predict import check_model_file

    paths = JobPaths(Path(folder))
    verdict = judge_folder(paths.root)
    if verdict.result is None:
        raise JobFolderError(f"{paths.root}: no valid result ({verdict.detail})")
    flat = {k: v for k, v in verdict.result.config.items() if k != "job_id"}
    config = TrainConfig.from_flat(flat, source=str(paths.config))
    if not isinstance(config.params, CNNParams | PLMParams):
        raise JobFolderError(
            f"{paths.root}: a {config.model} needs coordinates (PDB files or document ids), "
            "which predict does not take yet; sequence models (cnn, plm) take sequences"
        )
    for name, sequence in sequences:
        if not sequence.isalpha():
            raise DataError(f"{name}: not a protein sequence: {sequence[:30]!r}")
    metrics = verdict.result.metrics
    task = Task(metrics.task, flat.get("label"), metrics.classes)
    check_model_file(paths, verdict.result.manifest)
    model = load_model(paths.model_file)
    outputs = []
    for start in range(0, len(sequences), BATCH):
        chunk = sequences[start : start + BATCH]
        records = [ProteinRecord(id=i, sequence=s) for i, s in chunk]
        inputs, _ = batch_arrays(records, task=None, max_length=residues_kept(config))
        outputs.append(protein_probabilities(model, inputs, task))
    return ProteinPrediction([i for i, _ in sequences], task, np.concatenate(outputs))


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
