"""Seconds per epoch on the full avGFP training split, each model type, plus a GCN baseline.

Every model trains with its published settings (layer sizes and batch size) on
splits/main (43,758 training variants); an epoch is one pass over the training set plus the
tune loss, as `dmsweep train` runs it. For the GCN the same run also times a plain spektral
baseline at the same layer sizes: `GCNConv` in batch mode, the adjacency given per sample
(batch, L, L) and the one-hot + AAindex features as a float input (batch, L, 40), trained
with Keras' defaults (`gcn_baseline`), and once more with our training loop's settings
(fused Adam kernel, 16 steps per execution: `gcn_baseline_same_training`), which isolates
what the model and data representation alone gain. The goal: our GCN at least 2x faster
per epoch than the baseline.

Epochs of all models are interleaved (model A epoch 1, model B epoch 1, ...) so that a
change of machine load hits all of them alike; the first epoch (tracing) is not counted.
Both wall-clock and process CPU seconds are printed (CPU seconds are steadier on a shared
machine).

    .venv/bin/python bench/bench_speed.py --data-dir ../shared/data            # everything
    .venv/bin/python bench/bench_speed.py --models gcn,gcn_baseline --steps 200  # quick look

`--csv FILE` also writes the figures of our four model types (wall seconds per epoch, the
device, the config) in the columns of `aggregate`'s summary.csv, for `run_builder SPEC
--dry-run --timings FILE` (CPU- and GPU-hours of a sweep from speed measured here, or on a
GPU node: run this there).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dmsweep._tf import keras, tf  # first: Keras 2 behind tf.keras, before spektral loads

# isort: split
import numpy as np
from spektral.layers import GCNConv
from spektral.utils import gcn_filter

from dmsweep.config import (
    CNNParams,
    DataConfig,
    FCParams,
    GCNParams,
    LinearParams,
    OptimConfig,
    TrainConfig,
)
from dmsweep.data import encoding_table, load_dataset, make_split, residue_graph
from dmsweep.models import EncodedGraphConv, ModelInputs, SharedGraphConv, build_model
from dmsweep.train.devices import check_devices
from dmsweep.train.job import EVAL_BATCH_SIZE, STEPS_PER_EXECUTION, adam, train_batches
from dmsweep.train.trainer import configure_threads

PUBLISHED = {
    # name: (params, batch size, learning rate) - data/avgfp/README.md
    "linear": (LinearParams(), 128, 1e-4),
    "fc": (FCParams(layers=3, units=100), 32, 1e-4),
    "cnn": (CNNParams(layers=5, filters=128, kernel_size=3), 64, 1e-3),
    "gcn": (GCNParams(layers=2, filters=128, threshold=7.0), 32, 1e-4),
}
VARIANTS = ("gcn_dense", "gcn_baseline", "gcn_baseline_same_training")
SEED = 7


@dataclass
class Candidate:
    """One model to time: how to run an epoch of it, and the epochs measured."""

    name: str
    batch_size: int
    steps_per_epoch: int
    train_pass: Callable[[int | None], None]
    tune_loss: Callable[[], None]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def run_epoch(self, limit: int | None) -> tuple[float, float]:
        """(wall, CPU) seconds of one epoch; with `limit` steps, the training pass scaled up."""
        train = _timed(lambda: self.train_pass(limit))
        tune = _timed(self.tune_loss)
        scale = 1.0 if limit is None else self.steps_per_epoch / min(limit, self.steps_per_epoch)
        return train[0] * scale + tune[0], train[1] * scale + tune[1]


def _timed(step: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def gcn_at_size(size: str) -> tuple[GCNParams, int, float]:
    """`3x32@128` -> 3 graph convs of 32 filters, batch 128 (learning rate as published)."""
    shape, _, batch = size.partition("@")
    layers, filters = (int(v) for v in shape.lower().split("x"))
    params, published_batch, learning_rate = PUBLISHED["gcn"]
    resized = GCNParams(layers=layers, filters=filters, threshold=params.threshold)
    return resized, int(batch) if batch else published_batch, learning_rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="(default $DMSWEEP_DATA_DIR)")
    parser.add_argument(
        "--models",
        default="linear,fc,cnn,gcn,gcn_dense,gcn_baseline,gcn_baseline_same_training",
        help="comma-separated: linear fc cnn gcn gcn_dense gcn_baseline gcn_baseline_same_training",
    )
    parser.add_argument("--epochs", type=int, default=2, help="measured epochs (after warm-up)")
    parser.add_argument(
        "--steps", type=int, default=None, help="time only this many steps per epoch, scaled up"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--csv", type=Path, default=None, help="also write the figures for run_builder --timings"
    )
    parser.add_argument(
        "--gcn-size",
        metavar="LAYERSxFILTERS[@BATCH]",
        default=None,
        help="GCN (ours and baselines) at another size, e.g. 3x32@128 as measured in DESIGN.md "
        "(default: the published 2x128@32)",
    )
    args = parser.parse_args(argv)
    if args.gcn_size:
        PUBLISHED["gcn"] = gcn_at_size(args.gcn_size)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = sorted(set(names) - set(PUBLISHED) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown models {unknown}")

    threads = configure_threads(args.threads)
    device = check_devices(0, threads=threads, allow_cpu_fallback=True)  # a GPU if one is seen
    dataset = load_dataset("avgfp", data_dir=args.data_dir)
    split = make_split(dataset, DataConfig(split="main"))
    table = encoding_table(("one_hot", "aa_index"), data_dir=args.data_dir)
    graph = residue_graph(dataset.structure_path(), threshold=7.0, n_residues=237)
    train, tune = split.train, split.tune
    codes, scores = dataset.codes, dataset.scores
    print(
        f"avGFP splits/main: {len(train)} train, {len(tune)} tune variants; threads {threads}; "
        f"{os.cpu_count()} CPUs; {device.kind}: {device.label}; TensorFlow {tf.__version__}",
        flush=True,
    )

    candidates = []
    for name in names:
        keras.backend.clear_session()
        tf.keras.utils.set_random_seed(SEED)
        if name.startswith("gcn_baseline"):
            candidates.append(baseline_candidate(name, codes, scores, train, tune, table, graph))
        else:
            candidates.append(our_candidate(name, codes, scores, train, tune, table, graph))

    for epoch in range(args.epochs + 1):  # epoch 0: warm-up (tracing), not counted
        for candidate in candidates:
            wall, cpu = candidate.run_epoch(args.steps)
            if epoch > 0:
                candidate.wall.append(wall)
                candidate.cpu.append(cpu)
            print(
                f"  {candidate.name} epoch {epoch}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True
            )

    report(candidates, steps=args.steps)
    if args.csv is not None:
        write_timings(args.csv, candidates, f"{device.kind}: {device.label}")
        print(f"timings for run_builder --dry-run --timings: {args.csv}")
    return 0


def write_timings(path: Path, candidates: list[Candidate], device: str) -> None:
    """Our model types' median wall seconds per epoch as summary.csv rows (timings.py)."""
    rows = []
    for c in candidates:
        if c.name not in PUBLISHED:
            continue
        params, batch_size, learning_rate = PUBLISHED[c.name]
        config = TrainConfig(
            params=params,
            data=DataConfig(split="main"),
            optim=OptimConfig(learning_rate=learning_rate, batch_size=batch_size),
            seed=SEED,
        )
        flat = {k: ",".join(v) if isinstance(v, list) else v for k, v in config.to_flat().items()}
        seconds = statistics.median(c.wall)
        rows.append({**flat, "status": "ok", "device": device, "seconds_per_epoch": seconds})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)


def our_candidate(name, codes, scores, train, tune, table, graph) -> Candidate:
    model_type = "gcn" if name == "gcn_dense" else name
    params, batch_size, learning_rate = PUBLISHED[model_type]
    inputs = ModelInputs(table=table, length=codes.shape[1], adjacency=graph)
    model = build_model(params, inputs)
    if name == "gcn_dense":  # the same model with a dense adjacency product, for comparison
        for layer in model.layers:
            if isinstance(layer, EncodedGraphConv | SharedGraphConv):
                layer.sparse = False
    model.compile(
        optimizer=adam(learning_rate), loss="mse", steps_per_execution=STEPS_PER_EXECUTION
    )
    batches = train_batches(codes[train], scores[train], batch_size, SEED)
    tune_x, tune_y = codes[tune], scores[tune]

    def train_pass(limit: int | None) -> None:
        model.fit(batches if limit is None else batches.take(limit), epochs=1, verbose=0)

    def tune_loss() -> None:
        model.evaluate(tune_x, tune_y, batch_size=EVAL_BATCH_SIZE, verbose=0)

    return Candidate(name, batch_size, -(-len(train) // batch_size), train_pass, tune_loss)


def baseline_candidate(name, codes, scores, train, tune, table, graph) -> Candidate:
    """Plain spektral: GCNConv batch mode, per-sample adjacency and float features as input."""
    params, batch_size, learning_rate = PUBLISHED["gcn"]
    length, features = codes.shape[1], table.shape[1]
    x_in = keras.Input((length, features), name="features")
    a_in = keras.Input((length, length), name="adjacency")
    x = x_in
    for _ in range(params.layers):
        x = GCNConv(params.filters)([x, a_in])
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(params.dense_units)(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Dropout(params.dropout)(x)
    model = keras.Model([x_in, a_in], keras.layers.Dense(1)(x))
    if name.endswith("same_training"):  # our training loop's settings: isolates the model
        model.compile(
            optimizer=adam(learning_rate), loss="mse", steps_per_execution=STEPS_PER_EXECUTION
        )
    else:  # plain Keras defaults
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")

    a_hat = tf.constant(gcn_filter(graph.astype(np.float32)).astype(np.float32))
    train_x = tf.constant(table[codes[train].astype(np.int64)])  # float (n, L, 40)
    tune_x = tf.constant(table[codes[tune].astype(np.int64)])
    train_y, tune_y = tf.constant(scores[train]), tf.constant(scores[tune])

    def batched(x: tf.Tensor, y: tf.Tensor, size: int, shuffle: bool) -> tf.data.Dataset:
        rows = tf.data.Dataset.range(len(y))
        if shuffle:
            rows = rows.shuffle(len(y), seed=SEED, reshuffle_each_iteration=True)

        def features_and_adjacency(index: tf.Tensor) -> tuple:
            adjacency = tf.broadcast_to(a_hat, (tf.shape(index)[0], length, length))
            return (tf.gather(x, index), adjacency), tf.gather(y, index)

        return rows.batch(size).map(features_and_adjacency).prefetch(tf.data.AUTOTUNE)

    batches = batched(train_x, train_y, batch_size, True)
    tune_batches = batched(tune_x, tune_y, 256, False)
    print(
        f"  {name}: float features {train_x.numpy().nbytes / 2**20:.0f} MiB in memory "
        f"(int8 codes: {codes[train].nbytes / 2**20:.0f} MiB)",
        flush=True,
    )

    def train_pass(limit: int | None) -> None:
        model.fit(batches if limit is None else batches.take(limit), epochs=1, verbose=0)

    def tune_loss() -> None:
        model.evaluate(tune_batches, verbose=0)

    return Candidate(name, batch_size, -(-len(train) // batch_size), train_pass, tune_loss)


def report(candidates: list[Candidate], *, steps: int | None) -> None:
    print()
    scaled = f" (training pass scaled up from {steps} steps)" if steps else ""
    print(f"seconds per epoch, median of measured epochs{scaled}")
    print(f"{'model':26s} {'batch':>5s} {'wall s':>8s} {'CPU s':>8s}")
    medians = {}
    for c in candidates:
        wall, cpu = statistics.median(c.wall), statistics.median(c.cpu)
        medians[c.name] = (wall, cpu)
        print(f"{c.name:26s} {c.batch_size:5d} {wall:8.1f} {cpu:8.1f}")
    if "gcn" in medians:
        for base in ("gcn_baseline", "gcn_baseline_same_training", "gcn_dense"):
            if base in medians:
                wall = medians[base][0] / medians["gcn"][0]
                cpu = medians[base][1] / medians["gcn"][1]
                print(f"gcn speed-up vs {base}: {wall:.2f}x wall, {cpu:.2f}x CPU")


if __name__ == "__main__":
    sys.exit(main())
