"""One training on a protein set: the phases of `job._Job` with the protein-set pipeline.

Same job folder, same early stopping on the tune loss, same error handling, the same
data-parallel rule (a training granted several GPUs trains under MirroredStrategy with
`batch_size` per device, train/parallel.py); what differs is
the data (streamed batches of proteins, `dmsweep.train.protein_set`), the model
(`dmsweep.models.proteins`), the loss (binary / categorical cross-entropy for a class label,
optionally weighted `class_weight: balanced`; MSE for a number) and the metrics
(`classification_metrics` per split; the regression metrics for a number). The tune loss is
unweighted: models are selected on the plain log loss.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmsweep._tf import keras
from dmsweep.config import TrainConfig
from dmsweep.data.encodings import encoding_checksums, encoding_table
from dmsweep.data.protein_batches import class_weights, protein_table
from dmsweep.data.splits import PARTS
from dmsweep.data.tasks import Task, check_protein_set_config, residues_kept
from dmsweep.db.stream import CollectionSummary
from dmsweep.jobfiles import DATASET_CARD, PREDICTIONS
from dmsweep.models.proteins import build_protein_model, protein_loss, protein_probabilities
from dmsweep.train.job import _BestEpoch, _Job, optimizer_for, seed_everything
from dmsweep.train.metrics import classification_metrics, regression_metrics
from dmsweep.train.outputs import write_protein_predictions
from dmsweep.train.parallel import Parallel
from dmsweep.train.protein_set import Batches, ProteinSet, check_splits, graph_spec


@dataclass
class ProteinData:
    pset: ProteinSet
    task: Task
    summary: CollectionSummary
    batches: Batches
    table: np.ndarray
    pretrained: Path | None = None


@dataclass(frozen=True)
class SplitOutputs:
    ids: list[str]
    targets: np.ndarray
    outputs: np.ndarray


class ProteinJob(_Job):
    """The phases of one protein-set training (see `_Job.run`)."""

    def _load(self) -> ProteinData:
        config = self.config
        pset = self.cache.protein_set(config)
        task = pset.task(config.data.label)
        check_protein_set_config(config, task, where=self.folder.job_id)
        summary = pset.summarised(task.label if task.is_classification else None)
        check_splits(pset, summary)
        table = protein_table(encoding_table(config.data.encoding, source=self.cache.source))
        if pset.card is not None and pset.card.path is not None:
            shutil.copyfile(pset.card.path, self.folder.path(DATASET_CARD))
        files = {}
        if pset.card is not None:
            files = {rel: f"sha256:{src.sha256}" for rel, src in sorted(pset.card.files.items())}
        files.update(encoding_checksums(config.data.encoding))
        self.provenance["data_files"] = files
        self.provenance["protein_set"] = {
            **pset.provenance,
            "label": task.label,
            "split_counts": summary.split_counts,
            "class_counts": summary.class_counts,
        }
        self.provenance["split_checksums"] = {"assignment": summary.split_checksum}
        pretrained = self._pretrained()
        self.folder.write_provenance(self.provenance)
        batches = Batches(
            pset=pset,
            task=task,
            graph=graph_spec(config),
            max_length=residues_kept(config),
            batch_size=self.parallel.global_batch(config),
        )
        return ProteinData(pset, task, summary, batches, table, pretrained)

    def _build(self, data: ProteinData) -> keras.Model:
        """Adam for cnn and gcn; a plm's AdamW with warm-up, decay and clipping, its steps
        counted over the training split (`optimizer_for`)."""
        keras.backend.clear_session()
        seed_everything(self.config.seed)
        n_train = data.summary.split_counts.get("train", 0)
        return compiled_protein_model(
            self.config, data.table, data.task, self.parallel, data.pretrained, n_train
        )

    def _class_weights(self, data: ProteinData) -> np.ndarray | None:
        """`class_weight: balanced`'s weights of the training split (in provenance), else None."""
        if self.config.optim.class_weight != "balanced":
            return None
        counts = data.summary.class_counts.get("train", {})
        weights = class_weights(counts, data.task.classes)
        self.provenance["class_weights"] = dict(
            zip(data.task.classes, weights.tolist(), strict=True)
        )
        return weights

    def _fit(self, model: keras.Model, data: ProteinData) -> _BestEpoch:
        optim = self.config.optim
        weights = self._class_weights(data)
        stopper = self._stopper()
        with data.batches.surfacing_errors():
            model.fit(
                data.batches.dataset("train", seed=self.config.seed, class_weights=weights),
                epochs=optim.max_epochs,
                validation_data=data.batches.dataset("tune"),
                callbacks=[stopper],
                verbose=0,
            )
        stopper.restore(model)
        return stopper

    def _evaluate(self, model: keras.Model, data: ProteinData) -> tuple[dict[str, Any], Any]:
        metrics: dict[str, Any] = {}
        outputs: dict[str, SplitOutputs] = {}
        task = data.task
        for part in PARTS:
            result = outputs[part] = self._split_outputs(model, data, part)
            if task.is_classification:
                metrics[part] = classification_metrics(result.targets, result.outputs, task.classes)
            else:
                metrics[part] = regression_metrics(
                    result.targets, result.outputs, ranking=part != "train"
                )
        return metrics, outputs["test"]

    def _split_outputs(self, model: keras.Model, data: ProteinData, part: str) -> SplitOutputs:
        """Ids, targets and outputs (probabilities, or scores) of one split, in `_id` order."""
        ids: list[str] = []
        targets: list[np.ndarray] = []
        predicted: list[np.ndarray] = []
        for records, inputs, batch_targets in data.batches.arrays(part):
            ids.extend(r.id for r in records)
            assert batch_targets is not None
            targets.append(batch_targets)
            predicted.append(protein_probabilities(model, inputs, data.task))
        return SplitOutputs(
            ids,
            np.concatenate(targets) if targets else np.zeros(0),
            np.concatenate(predicted) if predicted else no_outputs(data.task),
        )

    def _write_predictions(self, data: ProteinData, test: SplitOutputs) -> None:
        write_protein_predictions(
            self.folder.path(PREDICTIONS), test.ids, test.targets, test.outputs, data.task.classes
        )

    def _task_fields(self, data: ProteinData) -> dict[str, Any]:
        return data.task.to_json()


def no_outputs(task: Task) -> np.ndarray:
    """The outputs of an empty split: (0, classes) probabilities, or (0,) scores."""
    return np.zeros((0, len(task.classes)) if task.is_classification else 0)


def compiled_protein_model(
    config: TrainConfig,
    table: np.ndarray,
    task: Task,
    parallel: Parallel,
    pretrained: Path | None = None,
    n_train: int = 0,
) -> keras.Model:
    """The protein-set model built and compiled, under the strategy when data-parallel: its
    padded batches (every input a dense tensor) split across the replicas by rows. A plm's
    schedule counts its steps over the `n_train` proteins of the training split."""
    with parallel.scope():
        model = build_protein_model(config.params, table=table, task=task, pretrained=pretrained)
        model.compile(optimizer=optimizer_for(config, n_train, parallel), loss=protein_loss(task))
    return model
