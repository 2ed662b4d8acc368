"""A rough cost of a planned sweep: CPU-hours and result disk per model type.

The cost model is documented in docs/sweep-spec.md#estimates; it is a planning aid for
`run_builder SPEC --dry-run`, not a promise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dmsweep.config import TrainConfig
from dmsweep.run_builder.expand import PlannedBatch, PlannedTraining

# Rough cost model (docs/sweep-spec.md#estimates). Seconds per epoch on ONE core for the
# reference architecture, for REFERENCE_TRAIN training variants at batch 128, from the design
# notes' 2-core measurements (TF 2.15) scaled to one core.
REFERENCE_TRAIN = 51_714
SECONDS_PER_EPOCH = {"linear": 0.5, "fc": 2.0, "cnn": 20.0, "gcn": 15.0, "plm": 2500.0}
"""plm: the tiny BERT of `dmsweep pretrain` (2 x 32), 12M tokens an epoch at about 5k tokens/s
on one core (3.7-10k measured on 2); a bigger pretrained model costs more than this says."""
PLM_PARAMETERS = 100_000
"""plm: the tiny BERT's size, for the result folder estimate (the directory is read by jobs)."""
SEQUENCE_LENGTH = 237
"""avGFP's wild-type length: the reference of SECONDS_PER_EPOCH."""
ENCODING_WIDTH = {"one_hot": 21, "aa_index": 19}
DATASET_SIZE = 54_024
"""Variants of avGFP, used when a config does not cap them (other datasets: same guess)."""
TRAINING_OVERHEAD_S = 20.0
"""Per training: load data, build the model, evaluate, write outputs."""
JOB_OVERHEAD_S = 60.0
"""Per HTCondor job: transfer and unpack the environment, start Python, import TensorFlow."""
OUTPUT_FIXED_MB = 0.5
"""Per training: predictions, history, metrics, config and provenance files."""


@dataclass(frozen=True)
class Estimate:
    """Rough cost of a sweep, for `run_builder SPEC --dry-run` (see docs/sweep-spec.md)."""

    trainings_per_model: Mapping[str, int]
    jobs_per_model: Mapping[str, int]
    """HTCondor jobs (batches) per model type."""
    cpu_hours_per_model: Mapping[str, float]
    disk_mb_per_model: Mapping[str, float]

    @property
    def trainings(self) -> int:
        return sum(self.trainings_per_model.values())

    @property
    def jobs(self) -> int:
        return sum(self.jobs_per_model.values())

    @property
    def cpu_hours(self) -> float:
        return sum(self.cpu_hours_per_model.values())

    @property
    def disk_mb(self) -> float:
        return sum(self.disk_mb_per_model.values())

    def lines(self) -> list[str]:
        """A small table for --dry-run: one row per model type and a total."""
        rows = [f"{'model':<8} {'trainings':>10} {'jobs':>8} {'CPU-hours':>10} {'results':>10}"]
        for model in self.trainings_per_model:
            rows.append(
                f"{model:<8} {self.trainings_per_model[model]:>10,} "
                f"{self.jobs_per_model[model]:>8,} {self.cpu_hours_per_model[model]:>10,.1f} "
                f"{_size(self.disk_mb_per_model[model]):>10}"
            )
        rows.append(
            f"{'total':<8} {self.trainings:>10,} {self.jobs:>8,} {self.cpu_hours:>10,.1f} "
            f"{_size(self.disk_mb):>10}"
        )
        rows.append("(rough estimate: see docs/sweep-spec.md#estimates)")
        return rows


def estimate(
    trainings: Sequence[PlannedTraining],
    batches: Sequence[PlannedBatch],
    *,
    sequence_length: int = SEQUENCE_LENGTH,
) -> Estimate:
    """Rough CPU-hours and result disk per model type of trainings run as `batches`."""
    counts: dict[str, int] = {}
    hours: dict[str, float] = {}
    disk: dict[str, float] = {}
    costs: dict[tuple[int, int, int], tuple[float, float]] = {}  # seeds aside, configs repeat
    for training in trainings:
        cfg = training.config
        key = (id(cfg.params), id(cfg.data), id(cfg.optim))
        if key not in costs:
            costs[key] = (training_seconds(cfg) / 3600, output_mb(cfg, sequence_length))
        cpu_hours, mb = costs[key]
        counts[cfg.model] = counts.get(cfg.model, 0) + 1
        hours[cfg.model] = hours.get(cfg.model, 0.0) + cpu_hours
        disk[cfg.model] = disk.get(cfg.model, 0.0) + mb
    jobs: dict[str, int] = {model: 0 for model in counts}
    for batch in batches:
        model = batch.trainings[0].config.model
        jobs[model] += 1
        hours[model] += JOB_OVERHEAD_S * max(1, batch.resources.cpus) / 3600
    return Estimate(counts, jobs, hours, disk)


def training_seconds(cfg: TrainConfig) -> float:
    """Core-seconds of one training (rough; see docs/sweep-spec.md#estimates)."""
    return TRAINING_OVERHEAD_S + epoch_seconds(cfg) * expected_epochs(cfg)


def epoch_seconds(cfg: TrainConfig) -> float:
    """Modelled core-seconds of one epoch: what measured timings calibrate (timings.py)."""
    data = cfg.data
    n = DATASET_SIZE if data.max_variants is None else min(data.max_variants, DATASET_SIZE)
    held_out = (data.tune_fraction or 0.1) + (data.test_fraction or 0.1)
    n_train = n * (1 - held_out) * data.train_fraction
    per_epoch = SECONDS_PER_EPOCH[cfg.model] * _work_ratio(cfg) * n_train / REFERENCE_TRAIN
    return per_epoch * (128 / cfg.optim.batch_size) ** 0.5  # more, smaller steps cost more


def expected_epochs(cfg: TrainConfig) -> float:
    """Early stopping usually ends avGFP trainings well before max_epochs: patience x 4 + 10."""
    optim = cfg.optim
    if optim.patience == 0:
        return float(optim.max_epochs)
    return float(min(optim.max_epochs, 4 * optim.patience + 10))


def output_mb(cfg: TrainConfig, sequence_length: int = SEQUENCE_LENGTH) -> float:
    """Result folder size: the saved model (weights and optimizer state, float32) plus files."""
    return OUTPUT_FIXED_MB + 3 * 4 * parameter_count(cfg, sequence_length) / 1e6


def parameter_count(cfg: TrainConfig, sequence_length: int = SEQUENCE_LENGTH) -> int:
    """Approximate trainable parameters of the model a config describes."""
    width = sum(ENCODING_WIDTH.get(e, 20) for e in cfg.data.encoding)
    length = sequence_length
    p: Any = cfg.params
    if cfg.model == "plm":
        return PLM_PARAMETERS
    if cfg.model == "linear":
        return length * width + 1
    if cfg.model == "fc":
        return length * width * p.units + (p.layers - 1) * p.units**2 + p.units * 2 + 1
    if cfg.model == "cnn":
        conv = width * p.filters * p.kernel_size + (p.layers - 1) * p.filters**2 * p.kernel_size
        return conv + length * p.filters * p.dense_units + p.dense_units + 1
    graph = width * p.filters + (p.layers - 1) * p.filters**2
    return graph + length * p.filters * p.dense_units + p.dense_units + 1


def _work_ratio(cfg: TrainConfig) -> float:
    """Compute per sample relative to the reference architecture of SECONDS_PER_EPOCH."""
    p: Any = cfg.params
    if cfg.model in ("linear", "plm"):
        return 1.0
    if cfg.model == "fc":
        return _ratio(parameter_count(cfg), SEQUENCE_LENGTH * 40 * 100 + 2 * 100**2)
    if cfg.model == "cnn":
        work = (40 * p.filters + (p.layers - 1) * p.filters**2) * p.kernel_size
        return _ratio(work, (40 * 32 + 2 * 32**2) * 17)
    work = 40 * p.filters + (p.layers - 1) * p.filters**2 + 7 * p.layers * p.filters
    return _ratio(work, 40 * 32 + 2 * 32**2 + 7 * 3 * 32)


def _ratio(work: float, reference: float) -> float:
    """Sub-linear: small models do not get proportionally faster (fixed per-step costs)."""
    return max(0.2, (work / reference) ** 0.8)


def _size(mb: float) -> str:
    if mb >= 1024 * 1024:
        return f"{mb / 1024 / 1024:.1f} TB"
    if mb >= 1024:
        return f"{mb / 1024:.1f} GB"
    return f"{mb:.0f} MB" if mb >= 1 else f"{math.ceil(mb * 1024)} KB"
