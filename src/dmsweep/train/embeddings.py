"""Frozen-embedding mode of `plm` (`head: embedding`): the encoder is never trained, so each
sequence's pooled embedding is computed once, cached by content hash, and only the head
(dropout, Dense(1)) trains on the cached embeddings: the cheap strong baseline.

Cache: `<cache dir>/plm-embeddings/<settings>/` (the cache dir is `$DMSWEEP_CACHE_DIR`, else
the download cache, `dmsweep.data.source.default_cache_dir()`), one folder per pretrained
checksum, pooling and max_length (`settings` is a hash of the three), holding `keys.npy`
(the sha256 of each sequence with the settings, fixed-width bytes) and `embeddings.npy`
(float32, row for row). Plain .npy (no pickle), written to a temporary name and renamed, so a
reader sees the old or the new pair, never half a file; two jobs filling the same folder at
once each write a complete pair (the later one wins, the other's new rows are recomputed
next time). A sequence is its int8 codes as the model reads them (so a stop codon and the
truncation are those of the model).

The saved model is the whole plm (encoder frozen, the trained head), so `predict` and
`serve` score new variants from codes as for a fine-tuned plm.

On a protein set (`ProteinEmbeddingJob`) each protein is its codes cut to the residues the
model reads (`residues_kept`) and padded with `PAD_CODE` to that width, so its key does not
depend on the proteins it is batched with; the head is the classification head, trained
with the protein set's loss and class weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmsweep.data.protein_batches import PAD_CODE
from dmsweep.data.tasks import residues_kept
from dmsweep.models.hf import keras
from dmsweep.models.proteins import protein_loss, task_outputs
from dmsweep.train.job import (
    PARTS,
    STEPS_PER_EXECUTION,
    _Job,
    eval_batch_size,
    optimizer_for,
    train_batches,
)
from dmsweep.train.job import _BestEpoch as BestEpoch
from dmsweep.train.metrics import regression_metrics
from dmsweep.train.parallel import Parallel
from dmsweep.train.protein_training import ProteinData, ProteinJob, SplitOutputs, no_outputs

CACHE_FOLDER = "plm-embeddings"
KEYS, EMBEDDINGS = "keys.npy", "embeddings.npy"


@dataclass(frozen=True)
class EmbeddingSettings:
    """What an embedding depends on besides the sequence."""

    pretrained_checksum: str
    pooling: str
    max_length: int

    def digest(self) -> str:
        text = json.dumps(
            [self.pretrained_checksum, self.pooling, self.max_length], separators=(",", ":")
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class CacheReport:
    """Where the cache is and how many embeddings were computed or reused (provenance)."""

    folder: str
    computed: int
    reused: int


def sequence_keys(codes: np.ndarray, settings: EmbeddingSettings) -> np.ndarray:
    """sha256 of (settings, codes row) per row, as fixed-width bytes (no pickle in .npy)."""
    head = settings.digest().encode()
    rows = np.ascontiguousarray(codes, dtype=np.int8)
    return np.array(
        [hashlib.sha256(head + row.tobytes()).hexdigest().encode() for row in rows], dtype="S64"
    )


def cached_embeddings(
    backbone: Any, codes: np.ndarray, settings: EmbeddingSettings, root: Path, batch_size: int
) -> tuple[np.ndarray, CacheReport]:
    """(n, hidden) pooled embeddings of `codes`: cached rows read, the others computed with
    `backbone` (one pass each, unique sequences only) and added to the cache."""
    folder = root / CACHE_FOLDER / settings.digest()
    keys = sequence_keys(codes, settings)
    known_keys, known = _read(folder)
    index = {k: i for i, k in enumerate(known_keys.tolist())}
    missing = sorted({k for k in keys.tolist() if k not in index})
    if missing:
        first = {k: i for i, k in reversed(list(enumerate(keys.tolist())))}
        rows = codes[[first[k] for k in missing]]
        new = np.concatenate(
            [np.asarray(backbone(rows[i : i + batch_size], training=False), np.float32)
             for i in range(0, len(rows), batch_size)]
        )  # fmt: skip
        known_keys = np.concatenate([known_keys, np.array(missing, dtype="S64")])
        known = new if known.size == 0 else np.concatenate([known, new])
        _write(folder, known_keys, known)
        index = {k: i for i, k in enumerate(known_keys.tolist())}
    out = known[[index[k] for k in keys.tolist()]]
    reused = len(set(keys.tolist())) - len(missing)
    return out, CacheReport(str(folder), computed=len(missing), reused=reused)


def _read(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    if not (folder / KEYS).is_file() or not (folder / EMBEDDINGS).is_file():
        return np.zeros(0, dtype="S64"), np.zeros((0, 0), np.float32)
    keys = np.load(folder / KEYS, allow_pickle=False)
    embeddings = np.load(folder / EMBEDDINGS, allow_pickle=False)
    if len(keys) != len(embeddings):  # two writers interleaved: start this folder afresh
        return np.zeros(0, dtype="S64"), np.zeros((0, 0), np.float32)
    return keys, embeddings


def _write(folder: Path, keys: np.ndarray, embeddings: np.ndarray) -> None:
    """Embeddings first, then keys, each by rename; a reader checks that the lengths agree."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in ((EMBEDDINGS, embeddings), (KEYS, keys)):
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as stream:
            np.save(stream, array, allow_pickle=False)
        os.replace(tmp, folder / name)


class _FrozenEncoder:
    """What both embedding jobs (variants, protein sets) share: the encoder frozen, on one
    device. The encoder runs once per sequence and the head is a Dense layer, so a
    MirroredStrategy would only add overhead; and the head, compiled apart from the model,
    must not meet the strategy the model was built under (recorded as no strategy)."""

    def _devices(self) -> None:
        super()._devices()  # type: ignore[misc]
        self.parallel = Parallel()
        self.provenance["parallel"] = self.parallel.provenance()
        self.folder.write_provenance(self.provenance)

    def _build(self, data: Any) -> keras.Model:
        model = super()._build(data)  # type: ignore[misc]
        model.get_layer("plm_backbone").trainable = False
        return model


class EmbeddingJob(_FrozenEncoder, _Job):
    """A `plm` with `head: embedding`: the encoder frozen, the head trained on cached
    embeddings; the phases, files and metrics of every other job."""

    def _fit(self, model: keras.Model, data: Any) -> BestEpoch:
        self.embeddings = self._embed(model, data)
        head = _head(model)
        config, optim = self.config, self.config.optim
        head.compile(
            optimizer=optimizer_for(config, len(data.split.train)),
            loss="mse",
            steps_per_execution=STEPS_PER_EXECUTION,
        )
        stopper = self._stopper()
        scores, (train, tune) = data.dataset.scores, (data.split.train, data.split.tune)
        head.fit(
            train_batches(self.embeddings["train"], scores[train], optim.batch_size, config.seed),
            epochs=optim.max_epochs,
            validation_data=(self.embeddings["tune"], scores[tune]),
            callbacks=[stopper],
            verbose=0,
        )
        stopper.restore(head)  # the head's layers are the model's: the model has them too
        return stopper

    def _evaluate(self, model: keras.Model, data: Any) -> tuple[dict[str, Any], np.ndarray]:
        head, scores = _head(model), data.dataset.scores
        metrics, predicted = {}, {}
        for part in PARTS:
            predicted[part] = head.predict(self.embeddings[part], verbose=0).reshape(-1)
            rows = getattr(data.split, part)
            metrics[part] = regression_metrics(
                scores[rows], predicted[part], ranking=part != "train"
            )
        return metrics, predicted["test"]

    def _embed(self, model: keras.Model, data: Any) -> dict[str, np.ndarray]:
        """Embeddings of the train, tune and test rows, through the cache."""
        codes = {part: data.dataset.codes[getattr(data.split, part)] for part in PARTS}
        return embed_parts(self, model, codes)


class ProteinEmbeddingJob(_FrozenEncoder, ProteinJob):
    """A `plm` with `head: embedding` on a protein set: each protein's pooled embedding once
    (through the cache), then the classification (or regression) head trains on them."""

    def _fit(self, model: keras.Model, data: ProteinData) -> BestEpoch:
        self.splits = {part: self._split_codes(data, part) for part in PARTS}
        self.embeddings = embed_parts(self, model, {p: c for p, (_, _, c) in self.splits.items()})
        config, optim = self.config, self.config.optim
        head = _head(model)
        n_train = len(self.splits["train"][0])
        head.compile(optimizer=optimizer_for(config, n_train), loss=protein_loss(data.task))
        weights = self._class_weights(data)
        targets = {part: self.splits[part][1] for part in PARTS}
        stopper = self._stopper()
        head.fit(
            self.embeddings["train"],
            targets["train"],
            sample_weight=None if weights is None else weights[targets["train"]],
            batch_size=optim.batch_size,
            shuffle=True,
            epochs=optim.max_epochs,
            validation_data=(self.embeddings["tune"], targets["tune"]),
            callbacks=[stopper],
            verbose=0,
        )
        stopper.restore(head)
        return stopper

    def _split_outputs(self, model: keras.Model, data: ProteinData, part: str) -> SplitOutputs:
        ids, targets, _ = self.splits[part]
        if not ids:  # a protein set may have no test proteins: Keras cannot predict nothing
            return SplitOutputs(ids, targets, no_outputs(data.task))
        out = _head(model).predict(self.embeddings[part], batch_size=4096, verbose=0)
        return SplitOutputs(ids, targets, task_outputs(out, data.task))

    def _split_codes(self, data: ProteinData, part: str) -> tuple[list[str], np.ndarray, Any]:
        """Ids, targets and int8 codes (n, residues kept) padded with PAD_CODE of a split."""
        width = residues_kept(self.config)
        ids: list[str] = []
        targets, rows = [], []
        for records, inputs, batch_targets in data.batches.arrays(part):
            ids.extend(r.id for r in records)
            targets.append(batch_targets)
            codes = np.full((len(records), width), PAD_CODE, dtype=np.int8)
            codes[:, : inputs["codes"].shape[1]] = inputs["codes"][:, :width]
            rows.append(codes)
        if not rows:  # an empty split (a protein set may have no test proteins)
            return ids, np.zeros(0), np.zeros((0, width), np.int8)
        return ids, np.concatenate(targets), np.concatenate(rows)


def embed_parts(job: _Job, model: keras.Model, codes: dict[str, np.ndarray]) -> dict[str, Any]:
    """Pooled embeddings of each split's codes (one pass through the cache, recorded in the
    job's provenance as `embedding_cache`)."""
    params = job.config.params
    settings = EmbeddingSettings(
        pretrained_checksum=job.provenance["pretrained"]["checksum"],
        pooling=params.pooling,
        max_length=params.max_length,
    )
    every, report = cached_embeddings(
        model.get_layer("plm_backbone"),
        np.concatenate([codes[part] for part in PARTS]),
        settings,
        job.cache.source.cache,
        eval_batch_size(job.config),
    )
    job.provenance["embedding_cache"] = vars(report)
    job.folder.write_provenance(job.provenance)
    out, start = {}, 0
    for part in PARTS:
        out[part] = every[start : start + len(codes[part])]
        start += len(codes[part])
    return out


def _head(model: keras.Model) -> keras.Model:
    """pooled embedding -> score, sharing the model's own dropout and output layers."""
    hidden = model.get_layer("plm_backbone").compute_output_shape((None, None))[-1]
    embedding = keras.Input(shape=(hidden,), name="embedding")
    x = model.get_layer("head_dropout")(embedding)
    return keras.Model(embedding, model.get_layer("output")(x), name="plm_head")


__all__ = [
    "CacheReport",
    "EmbeddingJob",
    "EmbeddingSettings",
    "ProteinEmbeddingJob",
    "cached_embeddings",
]
