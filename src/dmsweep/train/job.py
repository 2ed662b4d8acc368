"""The phases of one training (`_Job`) and what they share: Adam, early stopping on the tune
loss, seeds, the in-memory batches of a variant table (docs/job-contract.md).

`dmsweep.train.trainer` runs a sequence of trainings and picks the job class of each: `_Job`
for a variant table, `dmsweep.train.protein_training.ProteinJob` (a subclass) for a protein
set.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmsweep._tf import keras, tf
from dmsweep.config import DRAWN_SPLITS, GCNParams, PLMParams, TrainConfig
from dmsweep.data import Dataset, Split
from dmsweep.data.encodings import encoding_checksums
from dmsweep.data.shuffle import epoch_order
from dmsweep.data.splits import PARTS
from dmsweep.errors import TrainingError
from dmsweep.jobfiles import DATASET_CARD
from dmsweep.models import (
    ModelInputs,
    build_model,
    precision_policy,
    predict_scores,
    save_model,
)
from dmsweep.train.devices import check_devices, requested_gpus
from dmsweep.train.jobs import RunOptions, inject_fault
from dmsweep.train.metrics import regression_metrics
from dmsweep.train.outputs import JobFolder, one_line
from dmsweep.train.parallel import Parallel, replica_devices
from dmsweep.train.provenance import now

tf.get_logger().setLevel(logging.ERROR)  # e.g. retracing notes when a process trains many models

EVAL_BATCH_SIZE = 2048
"""Batch size for the tune loss and predictions (no gradients: bigger is faster)."""
STEPS_PER_EXECUTION = 16
"""Training steps per call into TensorFlow: the same updates, less Python per step (measured
about 30% faster for the FC model at batch size 32)."""

Log = Callable[[str], None]


@dataclass
class _Data:
    dataset: Dataset
    split: Split
    table: np.ndarray
    adjacency: np.ndarray | None
    pretrained: Path | None = None


class _Job:
    """The phases of one training; `run()` returns None or the error line."""

    def __init__(
        self,
        config: TrainConfig,
        folder: JobFolder,
        cache: Any,
        base: dict[str, Any],
        threads: int,
        options: RunOptions,
    ) -> None:
        self.config = config
        self.folder = folder
        self.cache = cache
        self.options = options
        self.verbose = options.verbose
        self.phase = "load_data"
        self.timings: dict[str, float] = {}
        self.history: list[tuple[int, float, float]] = []
        self.failure: Exception | None = None
        self.started = time.perf_counter()
        self.parallel = Parallel()
        seed = config.seed
        self.provenance: dict[str, Any] = {
            **base,
            "start_time": now(),
            "end_time": None,
            "seeds": {
                "job": seed,
                "python": seed,
                "numpy": seed,
                "tensorflow": seed,
                "split": _split_seed(config),
            },
            "data_files": {},
            "split_checksums": {},
            "threads": threads,
        }

    def run(self) -> str | None:
        folder = self.folder
        folder.write_config(self.config.to_flat())
        folder.write_provenance(self.provenance)
        inject_fault(folder.job_id)  # tests only: $DMSWEEP_TEST_FAULT kills this process
        try:
            self._timed("devices", self._devices)
            data = self._timed("load_data", self._load)
            model = self._timed("build_model", lambda: self._build(data))
            stopper = self._timed("train", lambda: self._fit(model, data))
            metrics, test_pred = self._timed("evaluate", lambda: self._evaluate(model, data))
            self.phase = "save"
            save_model(model, folder.model_file)
            self._write_predictions(data, test_pred)
            folder.write_history(self.history)
            self.timings["total"] = time.perf_counter() - self.started
            folder.write_metrics(
                {
                    **self._task_fields(data),
                    "splits": metrics,
                    "epochs_run": len(self.history),
                    "best_epoch": stopper.best_epoch,
                    "early_stopped": stopper.stopped,
                    "n_parameters": _trainable_parameters(model),
                    "timings": self.timings,
                    "seconds_per_epoch": stopper.seconds_per_epoch(),
                    "peak_memory_mb": peak_memory_mb(),
                }
            )
            self._finish()
            return None
        except Exception as error:  # any failure after a valid config: error.json, go on
            self.failure = error
            self._fail(error)
            return f"{type(error).__name__}: {one_line(error)} (phase {self.phase})"

    def _write_predictions(self, data: Any, test_pred: Any) -> None:
        test = data.split.test
        self.folder.write_predictions(
            [data.dataset.variants[i] for i in test], data.dataset.scores[test], test_pred
        )

    def _task_fields(self, data: Any) -> dict[str, Any]:
        """metrics.json's task keys: none for a variant table (regression, as always)."""
        return {}

    def _timed(self, phase: str, step: Callable[[], Any]) -> Any:
        self.phase = phase
        start = time.perf_counter()
        result = step()
        self.timings[phase] = time.perf_counter() - start
        return result

    def _devices(self) -> None:
        """Fail at once where granted GPUs are invisible to TensorFlow; record the device."""
        device = check_devices(
            requested_gpus(self.options.gpus),
            threads=self.provenance["threads"],
            allow_cpu_fallback=self.options.allow_cpu_fallback,
        )
        self.provenance["device"] = device.to_json()
        self.parallel = Parallel.over(replica_devices(device))
        self.provenance["parallel"] = self.parallel.provenance()
        self.folder.write_provenance(self.provenance)
        precision = self.config.optim.precision
        if precision is not None and device.kind != "gpu":
            raise TrainingError(
                f"precision {precision} needs a GPU, and this training runs on the CPU "
                f"({device.label}): leave precision unset to train in float32"
            )

    def _load(self) -> _Data:
        config, cache = self.config, self.cache
        dataset = cache.dataset(config.data.dataset)
        split = cache.split(config)
        for part in ("train", "tune"):
            if len(getattr(split, part)) == 0:
                raise TrainingError(f"split {config.data.split!r}: the {part} set is empty")
        table = cache.table(config.data.encoding, dataset)
        if dataset.card.path is not None:  # predict reads the wild type from the job folder
            shutil.copyfile(dataset.card.path, self.folder.path(DATASET_CARD))
        adjacency = None
        if isinstance(config.params, GCNParams):
            adjacency = cache.graph(dataset, config.params)
        pretrained = self._pretrained()
        self.folder.write_split(split.assignment(len(dataset)))
        self.provenance["data_files"] = _data_files(dataset, config)
        self.provenance["split_checksums"] = split.checksums()
        self.folder.write_provenance(self.provenance)
        return _Data(
            dataset=dataset, split=split, table=table, adjacency=adjacency, pretrained=pretrained
        )

    def _pretrained(self) -> Path | None:
        """A plm's checked pretrained directory (its checksum and origin into provenance)."""
        params = self.config.params
        if not isinstance(params, PLMParams):
            return None
        checked = self.cache.pretrained(params.pretrained)
        self.provenance["pretrained"] = checked.provenance()
        return checked.path

    def _build(self, data: _Data) -> keras.Model:
        keras.backend.clear_session()
        seed_everything(self.config.seed)
        inputs = ModelInputs(
            table=data.table,
            length=data.dataset.codes.shape[1],
            adjacency=data.adjacency,
            pretrained=data.pretrained,
        )
        return compiled_model(self.config, inputs, len(data.split.train), self.parallel)

    def _fit(self, model: keras.Model, data: _Data) -> _BestEpoch:
        optim = self.config.optim
        codes, scores = data.dataset.codes, data.dataset.scores
        train, tune = data.split.train, data.split.tune
        batch = self.parallel.global_batch(self.config)
        stopper = self._stopper()
        model.fit(
            train_batches(codes[train], scores[train], batch, self.config.seed),
            epochs=optim.max_epochs,
            validation_data=(codes[tune], scores[tune]),
            validation_batch_size=eval_batch_size(self.config),
            callbacks=[stopper],
            verbose=0,
        )
        stopper.restore(model)
        return stopper

    def _stopper(self) -> _BestEpoch:
        """Early stopping on the tune loss, logging into this job's history."""
        optim = self.config.optim
        return _BestEpoch(
            patience=optim.patience,
            min_delta=optim.min_delta,
            max_epochs=optim.max_epochs,
            history=self.history,
            log=_stderr if self.verbose else _quiet,
            label=self.folder.job_id,
        )

    def _evaluate(self, model: keras.Model, data: _Data) -> tuple[dict[str, Any], np.ndarray]:
        codes, scores = data.dataset.codes, data.dataset.scores
        metrics: dict[str, Any] = {}
        predicted: dict[str, np.ndarray] = {}
        for part in PARTS:
            rows = getattr(data.split, part)
            predicted[part] = predict_scores(
                model, codes[rows], batch_size=eval_batch_size(self.config)
            )
            metrics[part] = regression_metrics(
                scores[rows], predicted[part], ranking=part != "train"
            )
        return metrics, predicted["test"]

    def _finish(self) -> None:
        self.provenance["end_time"] = now()
        self.folder.write_provenance(self.provenance)

    def _fail(self, error: Exception) -> None:
        """Leave config.json, provenance.json, error.json (and the history so far)."""
        folder = self.folder
        folder.write_error(error, self.phase)
        if self.history:
            folder.write_history(self.history)
        self._finish()


def compiled_model(
    config: TrainConfig, inputs: ModelInputs, n_train: int, parallel: Parallel
) -> keras.Model:
    """The model built and compiled (under the strategy when data-parallel)."""
    with parallel.scope(), precision_policy(config.optim.precision):
        model = build_model(config.params, inputs)
        model.compile(  # mixed_float16: Keras wraps the optimizer in loss scaling here
            optimizer=optimizer_for(config, n_train, parallel),
            loss="mse",
            steps_per_execution=STEPS_PER_EXECUTION,
        )
    return model


def optimizer_for(
    config: TrainConfig, n_train: int, parallel: Parallel | None = None
) -> keras.optimizers.Optimizer:
    """Adam for the one-hot models; AdamW with warm-up, decay and clipping for `plm`. The
    learning rate and the steps follow the data-parallel rule (train/parallel.py)."""
    parallel = parallel or Parallel()
    learning_rate = parallel.learning_rate(config)
    if isinstance(config.params, PLMParams):
        from dmsweep.models.plm import plm_optimizer

        steps = math.ceil(n_train / parallel.global_batch(config)) * config.optim.max_epochs
        return plm_optimizer(config.params, learning_rate, steps)
    return adam(learning_rate)


def eval_batch_size(config: TrainConfig) -> int:
    """EVAL_BATCH_SIZE, except for a language model: its activations are (batch, tokens,
    hidden), so it evaluates at four times its training batch size."""
    if isinstance(config.params, PLMParams):
        return min(EVAL_BATCH_SIZE, 4 * config.optim.batch_size)
    return EVAL_BATCH_SIZE


def adam(learning_rate: float) -> keras.optimizers.Optimizer:
    """Adam with Keras' defaults (beta 0.9/0.999, epsilon 1e-7), as the fused kernel.

    The legacy optimizer applies each update with one fused ResourceApplyAdam kernel; the
    new Keras 2.15 Adam runs several element-wise ops per variable, measured 3x slower on the
    3M-weight dense layers of the published CNN and GCN (bench/bench_speed.py).
    """
    return keras.optimizers.legacy.Adam(learning_rate=learning_rate)


def train_batches(features: np.ndarray, scores: np.ndarray, batch_size: int, seed: int) -> Any:
    """Shuffled (features, scores) batches, in a new order every epoch from the job seed.

    The order is `epoch_order`'s, the one a protein set streamed from a database follows too
    (`dmsweep.data.shuffle`): NumPy draws one permutation per epoch, tf.data gathers the
    batches. The features are int8 codes (the whole in-memory dataset, 237 bytes per
    variant; the encoding lookup inside the model makes the float features one batch at a
    time) or a frozen-encoder head's cached float embeddings.
    """
    n = len(features)
    epochs = itertools.count()

    def orders() -> Iterator[np.ndarray]:
        yield epoch_order(n, seed, next(epochs))

    features_t, scores_t = tf.constant(features), tf.constant(scores)
    order = tf.data.Dataset.from_generator(orders, output_signature=tf.TensorSpec((n,), tf.int64))
    batches = order.flat_map(lambda o: tf.data.Dataset.from_tensor_slices(o).batch(batch_size))
    batches = batches.map(lambda rows: (tf.gather(features_t, rows), tf.gather(scores_t, rows)))
    batches = batches.apply(tf.data.experimental.assert_cardinality(math.ceil(n / batch_size)))
    return batches.prefetch(tf.data.AUTOTUNE)


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds from the one job seed (all equal, as recorded)."""
    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)


class _BestEpoch(keras.callbacks.Callback):
    """Early stopping on the tune loss; remembers the best epoch's weights; logs each epoch.

    An epoch improves when the tune loss falls more than `min_delta` below the best so far;
    training stops after `patience` epochs without improvement (as nn4dms). A non-finite
    loss stops training with a TrainingError (diverged).
    """

    def __init__(
        self,
        *,
        patience: int,
        min_delta: float,
        max_epochs: int,
        history: list[tuple[int, float, float]],
        log: Log,
        label: str,
    ) -> None:
        super().__init__()
        self.patience = patience
        self.min_delta = min_delta
        self.max_epochs = max_epochs
        self.history = history
        self.log = log
        self.label = label
        self.best_loss: float | None = None
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None
        self.wait = 0
        self.stopped = False
        self.durations: list[float] = []
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        seconds = time.perf_counter() - self._epoch_start
        self.durations.append(seconds)
        logs = logs or {}
        train_loss, tune_loss = float(logs["loss"]), float(logs["val_loss"])
        number = epoch + 1
        self.history.append((number, train_loss, tune_loss))
        self.log(
            f"{self.label} epoch {number}/{self.max_epochs} train_loss {train_loss:.5f} "
            f"tune_loss {tune_loss:.5f} {seconds:.1f}s"
        )
        if not (np.isfinite(train_loss) and np.isfinite(tune_loss)):
            raise TrainingError(
                f"training diverged at epoch {number}: train loss {train_loss}, tune loss "
                f"{tune_loss} (try a lower learning_rate)"
            )
        if self.best_loss is None or self.best_loss - tune_loss > self.min_delta:
            self.best_loss, self.best_epoch = tune_loss, number
            self.best_weights = self.model.get_weights()
            self.wait = 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped = True
                self.model.stop_training = True

    def restore(self, model: keras.Model) -> None:
        if self.best_weights is None:
            raise TrainingError("training ran no epoch")
        model.set_weights(self.best_weights)

    def seconds_per_epoch(self) -> float | None:
        return float(np.mean(self.durations)) if self.durations else None


def _split_seed(config: TrainConfig) -> int | None:
    data = config.data
    if data.split in DRAWN_SPLITS or data.train_fraction < 1.0:
        return data.split_seed
    return None


def _data_files(dataset: Dataset, config: TrainConfig) -> dict[str, str]:
    """Checksums of the files this job used: table, structure, its split's files, encodings."""
    card = dataset.card
    split_prefix = None
    if card.splits is not None:
        splits = card.splits.rstrip("/") + "/"
        split_prefix = f"{splits}{config.data.split.strip('/')}/"
    files = {}
    for rel, checksum in sorted(dataset.checksums.items()):
        in_splits = card.splits is not None and rel.startswith(card.splits.rstrip("/") + "/")
        if not in_splits or (split_prefix is not None and rel.startswith(split_prefix)):
            files[rel] = checksum
    files.update(encoding_checksums(config.data.encoding))
    return files


def _trainable_parameters(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MiB; Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _quiet(message: str) -> None:
    pass
