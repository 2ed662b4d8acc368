"""Where a training step of the published avGFP GCN goes on this machine, and what speeds it up.

The published GCN (nn4dms, data/avgfp/README.md): 2 graph convs x 128 filters on the 7 A
C-beta graph, flatten, Dense(100), Adam lr 1e-4, batch 32, patience 15, on splits/main
(43,758 training variants: 1,368 steps per epoch, plus the tune loss). The script builds the
model `dmsweep train` builds (`dmsweep.train.job.compiled_model`) and, in one run:

1. times N training steps through Keras `fit` (what a job runs) and the per-epoch tune loss:
   seconds per epoch, and the wall time to early stopping projected from the epochs observed;
2. breaks a step down by part, each part's forward + backward run alone on the real shapes
   with the model's own weights: encoding lookup, graph products, dense kernels of each conv,
   bias + activations, the flatten + dense head with the loss, the Adam update, the input
   pipeline, Keras' overhead per step (`fit` against a bare tf.function step), the tune
   loss per epoch. Beside each part its FLOPs per step and the GFLOP/s achieved, and a plain
   matmul's rate on this machine (the roofline: is the step compute-bound?);
3. with `--trace DIR`, traces steps of `fit` with the TensorFlow profiler into DIR (open it in
   TensorBoard) and prints op self-time summed by op type;
4. times candidate speed-ups interleaved with the current code (`--variants`), as ratios.

Each figure is the median over `--rounds` rounds, parts and variants interleaved within a
round, so that a change of load on the shared machine hits all alike; wall and process CPU
seconds are both printed.

    .venv/bin/python bench/bench_gcn_profile.py --threads 2                 # profile + variants
    .venv/bin/python bench/bench_gcn_profile.py --threads 2 --trace /tmp/gcn-trace --variants ""
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dmsweep._tf import keras, tf  # first: Keras 2 behind tf.keras, quiet start-up

# isort: split
import numpy as np

from dmsweep.config import DataConfig, GCNParams, OptimConfig, TrainConfig
from dmsweep.data import encoding_table, load_dataset, make_split, residue_graph
from dmsweep.models import EncodedGraphConv, ModelInputs, SharedGraphConv
from dmsweep.train.job import (
    EVAL_BATCH_SIZE,
    STEPS_PER_EXECUTION,
    adam,
    compiled_model,
    seed_everything,
    train_batches,
)
from dmsweep.train.parallel import Parallel
from dmsweep.train.trainer import configure_threads

PUBLISHED = TrainConfig(
    params=GCNParams(layers=2, filters=128, threshold=7.0),
    data=DataConfig(split="main"),
    optim=OptimConfig(learning_rate=1e-4, batch_size=32, patience=15),
    seed=7,
)
PUBLISHED_HOURS = {"nn4dms, 6-core CPU": 80.0, "nn4dms, GPU": 7.0}
"""Wall time of the published GCN's training (Gelman et al. 2021), the figures to compare with."""
LAST_IMPROVING_EPOCH = 78
"""The 2-thread run of the published settings (2026-12, this machine) still improved its tune
loss at epoch 78 (0.1086 at 31, 0.0888 at 78) when it was stopped: early stopping comes at
epoch 78 + patience at the earliest."""


@dataclass
class Timer:
    """Median wall and CPU seconds per call of `run` over the rounds measured."""

    name: str
    run: Callable[[], Any]
    calls: int = 1
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def measure(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(self.calls):
            self.run()
        self.wall.append((time.perf_counter() - wall) / self.calls)
        self.cpu.append((time.process_time() - cpu) / self.calls)

    @property
    def seconds(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(self.cpu)


def interleaved(timers: list[Timer], rounds: int) -> None:
    """One warm-up call each (tracing), then `rounds` rounds of every timer in turn."""
    for timer in timers:
        timer.run()
    for _ in range(rounds):
        for timer in timers:
            timer.measure()


@dataclass(frozen=True)
class Shapes:
    """The sizes that set the work of one step."""

    batch: int
    length: int
    features: int
    filters: int
    dense_units: int
    codes: int
    edges: int

    @property
    def node_rows(self) -> int:
        return self.length * self.batch


@dataclass(frozen=True)
class Data:
    codes: np.ndarray
    scores: np.ndarray
    train: np.ndarray
    tune: np.ndarray
    table: np.ndarray
    graph: np.ndarray

    def inputs(self) -> ModelInputs:
        return ModelInputs(table=self.table, length=self.codes.shape[1], adjacency=self.graph)

    def batches(self, batch_size: int) -> tf.data.Dataset:
        return train_batches(
            self.codes[self.train], self.scores[self.train], batch_size, PUBLISHED.seed
        )

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-len(self.train) // batch_size)


def load(data_dir: Path | None) -> Data:
    dataset = load_dataset("avgfp", data_dir=data_dir)
    split = make_split(dataset, PUBLISHED.data)
    table = encoding_table(PUBLISHED.data.encoding, data_dir=data_dir)
    params = PUBLISHED.params
    graph = residue_graph(
        dataset.structure_path(), threshold=params.threshold, n_residues=dataset.codes.shape[1]
    )
    return Data(dataset.codes, dataset.scores, split.train, split.tune, table, graph)


def published_model(data: Data, config: TrainConfig = PUBLISHED) -> keras.Model:
    """The model and optimizer of `dmsweep train` for `config`, from the job seed."""
    keras.backend.clear_session()
    seed_everything(config.seed)
    return compiled_model(config, data.inputs(), len(data.train), Parallel())


def fit_steps(model: keras.Model, data: Data, steps: int, batch_size: int) -> Callable[[], None]:
    """`steps` training steps through Keras fit, as a job runs them (a fresh pass each call)."""
    batches = data.batches(batch_size).take(steps)
    return lambda: model.fit(batches, epochs=1, verbose=0)


def tune_loss(model: keras.Model, data: Data) -> Callable[[], None]:
    tune_x, tune_y = data.codes[data.tune], data.scores[data.tune]
    return lambda: model.evaluate(tune_x, tune_y, batch_size=EVAL_BATCH_SIZE, verbose=0)


# --- the parts of one step ------------------------------------------------------------------


def forward_backward(forward: Callable[[], Any], sources: list[Any]) -> Callable[[], Any]:
    """A tf.function: `forward()`, then the gradient of sum(output * a fixed random cotangent)
    with respect to `sources` (the backward pass of the part, as in a training step)."""
    shapes = [t.shape for t in tf.nest.flatten(forward())]
    rng = np.random.default_rng(0)
    cotangents = [tf.constant(rng.standard_normal(s).astype(np.float32)) for s in shapes]

    @tf.function
    def step() -> Any:
        with tf.GradientTape() as tape:
            tape.watch(sources)
            outputs = tf.nest.flatten(forward())
            loss = tf.add_n(
                [tf.reduce_sum(o * c) for o, c in zip(outputs, cotangents, strict=True)]
            )
        return tape.gradient(loss, sources)

    return step


@dataclass(frozen=True)
class Part:
    """One part of the training step: what runs, and its floating-point operations."""

    name: str
    run: Callable[[], Any]
    flops: float


def step_parts(model: keras.Model, data: Data, shapes: Shapes, *, main_layers: bool) -> list[Part]:
    """The step cut into parts at the layer boundaries of the published GCN (2 convs): the
    convs as the current code runs them, or as main ran them (`main_layers`)."""
    s = shapes
    rng = np.random.default_rng(1)
    codes = tf.constant(data.codes[data.train[: s.batch]])
    scores = tf.constant(data.scores[data.train[: s.batch]])
    node_major = tf.constant(
        rng.standard_normal((s.length, s.batch, s.filters)).astype(np.float32) * 0.1
    )
    conv_parts = main_conv_parts if main_layers else current_conv_parts
    parts = conv_parts(model, codes, node_major, s)
    conv1, conv2 = model.get_layer("graphconv1"), model.get_layer("graphconv2")
    head = [model.get_layer(n) for n in ("dense", "dense_act", "dense_dropout", "output")]

    def bias_activation() -> Any:
        return [
            tf.nn.leaky_relu(tf.nn.bias_add(node_major + node_major, conv.bias), 0.2)
            for conv in (conv1, conv2)
        ]

    def head_and_loss() -> Any:
        x = keras.layers.Flatten()(tf.transpose(node_major, (1, 0, 2)))
        x = head[2](head[1](head[0](x)), training=True)
        return tf.reduce_mean(tf.square(head[3](x)[:, 0] - scores))

    head_weights = [w for layer in (head[0], head[3]) for w in layer.trainable_weights]
    elementwise = 2 * 3 * 3.0 * s.node_rows * s.filters
    parts += [
        Part(
            "convs: add, bias, leaky ReLU",
            forward_backward(bias_activation, [node_major, conv1.bias, conv2.bias]),
            elementwise,
        ),
        Part(
            "head: transpose, flatten, Dense(100), output, MSE",
            forward_backward(head_and_loss, [node_major, *head_weights]),
            3 * 2.0 * s.batch * s.length * s.filters * s.dense_units,
        ),
    ]
    variables = model.trainable_variables
    grads = [tf.constant(rng.standard_normal(v.shape).astype(np.float32) * 1e-3) for v in variables]
    optimizer = adam(PUBLISHED.optim.learning_rate)

    @tf.function
    def apply() -> None:
        optimizer.apply_gradients(zip(grads, variables, strict=True))

    n_weights = sum(int(np.prod(v.shape)) for v in variables)
    parts.append(Part(f"Adam update ({n_weights / 1e6:.2f} M weights)", apply, 10.0 * n_weights))
    return parts


def graph_flops(shapes: Shapes, width: int) -> float:
    """One sparse (L, L) x (L, batch * width) product: 2 FLOPs per edge and column."""
    return 2.0 * shapes.edges * shapes.batch * width


def conv2_graph_part(conv2: SharedGraphConv, node_major: tf.Tensor, s: Shapes) -> Part:
    """conv2's graph product, forward and backward at 128 channels (the same on main)."""
    return Part(
        "conv2: graph product, 128 wide (CSR)",
        forward_backward(lambda: conv2.aggregate(node_major), [node_major]),
        2 * graph_flops(s, s.filters),
    )


def main_conv_parts(
    model: keras.Model, codes: tf.Tensor, node_major: tf.Tensor, s: Shapes
) -> list[Part]:
    """main's convs: conv1 gathers (table W_2) and (table W_1) rows and averages the 128-wide
    result; conv2 runs its two kernels as two matmuls."""
    conv1, conv2 = model.get_layer("graphconv1"), model.get_layer("graphconv2")
    c = s.filters

    def lookup() -> Any:
        index = tf.transpose(tf.cast(codes, tf.int32))
        own = tf.gather(tf.matmul(conv1.table, conv1.kernel_2), index)
        return own, tf.gather(tf.matmul(conv1.table, conv1.kernel_1), index)

    def kernels() -> Any:
        rows = tf.reshape(node_major, (-1, c))
        return tf.matmul(rows, conv2.kernel_2), tf.matmul(rows, conv2.kernel_1)

    return [
        Part(
            "conv1: encoding lookup (table W, 2 gathers)",
            forward_backward(lookup, [conv1.kernel_1, conv1.kernel_2]),
            2 * 3 * 2.0 * s.codes * s.features * c + 2.0 * s.node_rows * c,
        ),
        Part(
            "conv1: graph product, 128 wide (CSR)",
            forward_backward(lambda: conv1.aggregate(node_major), [node_major]),
            2 * graph_flops(s, c),
        ),
        conv2_graph_part(conv2, node_major, s),
        Part(
            "conv2: dense kernels (2 matmuls by 128x128)",
            forward_backward(kernels, [node_major, conv2.kernel_1, conv2.kernel_2]),
            2 * 3 * 2.0 * s.node_rows * c * c,
        ),
    ]


def current_conv_parts(
    model: keras.Model, codes: tf.Tensor, node_major: tf.Tensor, s: Shapes
) -> list[Part]:
    """The current convs: conv1 averages the 40-wide encoding (no gradient flows into the
    fixed table) and runs [x, A_hat x] by [W_2; W_1]; conv2 runs x by [W_2, W_1]."""
    conv1, conv2 = model.get_layer("graphconv1"), model.get_layer("graphconv2")
    c, f = s.filters, s.features
    encoded = tf.gather(conv1.table, tf.transpose(tf.cast(codes, tf.int32)))

    def lookup_and_kernel() -> Any:
        x = tf.gather(conv1.table, tf.transpose(tf.cast(codes, tf.int32)))
        both = tf.reshape(tf.concat([x, x], axis=-1), (-1, 2 * f))
        return tf.matmul(both, tf.concat([conv1.kernel_2, conv1.kernel_1], axis=0))

    def kernels() -> Any:
        rows = tf.reshape(node_major, (-1, c))
        return tf.matmul(rows, tf.concat([conv2.kernel_2, conv2.kernel_1], axis=1))

    return [
        Part(
            "conv1: encoding gather, [x, A x] by one (80, 128) kernel",
            forward_backward(lookup_and_kernel, [conv1.kernel_1, conv1.kernel_2]),
            2 * 2.0 * s.node_rows * 2 * f * c,
        ),
        Part(
            "conv1: graph product, 40 wide, forward only (CSR)",
            tf.function(lambda: conv1.aggregate(encoded)),
            graph_flops(s, f),
        ),
        conv2_graph_part(conv2, node_major, s),
        Part(
            "conv2: dense kernels (one matmul by 128x256)",
            forward_backward(kernels, [node_major, conv2.kernel_1, conv2.kernel_2]),
            3 * 2.0 * s.node_rows * c * 2 * c,
        ),
    ]


def bare_step(model: keras.Model, data: Data, batch_size: int) -> Callable[[], Any]:
    """One training step as a plain tf.function (forward, backward, Adam): no Keras fit."""
    optimizer = adam(PUBLISHED.optim.learning_rate)
    codes = tf.constant(data.codes[data.train[:batch_size]])
    scores = tf.constant(data.scores[data.train[:batch_size]])

    @tf.function
    def step() -> Any:
        with tf.GradientTape() as tape:
            predicted = model(codes, training=True)[:, 0]
            loss = tf.reduce_mean(tf.square(predicted - scores))
        optimizer.apply_gradients(
            zip(
                tape.gradient(loss, model.trainable_variables),
                model.trainable_variables,
                strict=True,
            )
        )
        return loss

    return step


def input_pipeline(data: Data, batch_size: int, steps: int) -> Callable[[], Any]:
    """`steps` batches of the training pipeline drained inside TensorFlow (no Python per
    batch, as fit consumes them)."""
    batches = data.batches(batch_size).take(steps)
    return lambda: batches.reduce(np.int64(0), lambda count, _: count + 1)


def matmul_roofline(shapes: Shapes) -> tuple[Callable[[], Any], float]:
    """A plain (L * batch, 128) x (128, 128) matmul, 20 times per call: this machine's rate at
    the conv's shape, the ceiling a compute-bound step could reach."""
    rng = np.random.default_rng(2)
    a = tf.constant(rng.standard_normal((shapes.node_rows, shapes.filters)).astype(np.float32))
    b = tf.constant(rng.standard_normal((shapes.filters, shapes.filters)).astype(np.float32))

    @tf.function
    def run() -> Any:
        out = a
        for _ in range(20):
            out = tf.matmul(out, b) * 0.01
        return out

    return run, 20 * 2.0 * shapes.node_rows * shapes.filters**2


# --- candidate speed-ups --------------------------------------------------------------------


class MainEncodedGraphConv(EncodedGraphConv):
    """The first graph conv as on main before this bench: `(table W_2)[codes] + A_hat (table
    W_1)[codes]`, two gathers and the graph product at the full 128 channels."""

    def call(self, inputs: tf.Tensor, mask: Any = None) -> tf.Tensor:
        codes = tf.transpose(tf.cast(inputs, tf.int32))
        own = tf.gather(tf.matmul(self.table, self.kernel_2), codes)
        neighbours = self.aggregate(tf.gather(tf.matmul(self.table, self.kernel_1), codes))
        return self._finish(own + neighbours)


class MainSharedGraphConv(SharedGraphConv):
    """A further graph conv as on main before this bench: two separate kernel matmuls."""

    def call(self, inputs: tf.Tensor, mask: Any = None) -> tf.Tensor:
        rows = tf.reshape(inputs, (-1, inputs.shape[-1]))
        shape = tf.concat([tf.shape(inputs)[:-1], [self.channels]], axis=0)
        own = tf.reshape(tf.matmul(rows, self.kernel_2), shape)
        neighbours = self.aggregate(tf.reshape(tf.matmul(rows, self.kernel_1), shape))
        return self._finish(own + neighbours)


MAIN_LAYERS = {EncodedGraphConv: MainEncodedGraphConv, SharedGraphConv: MainSharedGraphConv}


@dataclass(frozen=True)
class Variant:
    """A way to train the published model: how it differs, and whether it is the same model
    (the same function and updates) or a different training (figures only, not defaults)."""

    key: str
    name: str
    same_model: bool
    main_layers: bool = False
    sparse: bool = True
    jit_compile: bool = False
    steps_per_execution: int = STEPS_PER_EXECUTION
    batch_size: int = PUBLISHED.optim.batch_size
    precision: str | None = None

    def build(self, data: Data) -> keras.Model:
        config = replace(
            PUBLISHED,
            optim=replace(PUBLISHED.optim, batch_size=self.batch_size, precision=self.precision),
        )
        model = published_model(data, config)
        for layer in model.layers:
            if self.main_layers and type(layer) in MAIN_LAYERS:
                layer.__class__ = MAIN_LAYERS[type(layer)]
            if isinstance(layer, EncodedGraphConv | SharedGraphConv):
                layer.sparse = self.sparse
        if self.jit_compile or self.steps_per_execution != STEPS_PER_EXECUTION:
            model.compile(
                optimizer=model.optimizer,
                loss="mse",
                steps_per_execution=self.steps_per_execution,
                jit_compile=self.jit_compile,
            )
        return model


VARIANTS = {
    v.key: v
    for v in (
        Variant("main", "main: layers before this bench", True, main_layers=True),
        Variant("current", "current code", True),
        Variant("dense", "current + dense adjacency product", True, sparse=False),
        Variant(
            "xla_dense",
            "current + XLA (jit_compile), dense adjacency",
            True,
            sparse=False,
            jit_compile=True,
        ),
        Variant("xla_csr", "current + XLA (jit_compile), CSR product", True, jit_compile=True),
        Variant("spe128", "current + 128 steps per execution", True, steps_per_execution=128),
        Variant(
            "main_dense", "main layers + dense adjacency", True, main_layers=True, sparse=False
        ),
        Variant("batch64", "batch 64 (another training)", False, batch_size=64),
        Variant("batch128", "batch 128 (another training)", False, batch_size=128),
        Variant("bf16", "mixed_bfloat16 (another training)", False, precision="mixed_bfloat16"),
    )
}


@dataclass
class VariantTiming:
    variant: Variant
    short: Timer
    long: Timer
    steps: int
    error: str | None = None

    def seconds_per_step(self) -> tuple[float, float]:
        wall = (self.long.seconds - self.short.seconds) / self.steps
        cpu = (self.long.cpu_seconds - self.short.cpu_seconds) / self.steps
        return wall, cpu


def time_variants(names: list[str], data: Data, steps: int, rounds: int) -> list[VariantTiming]:
    timings = []
    for name in names:
        variant = VARIANTS[name]
        model = variant.build(data)
        execution = variant.steps_per_execution
        short = Timer(name, fit_steps(model, data, execution, variant.batch_size))
        long = Timer(name, fit_steps(model, data, execution + steps, variant.batch_size))
        timing = VariantTiming(variant, short, long, steps)
        try:
            short.run()
        except Exception as error:  # e.g. an op XLA cannot compile: reported, not timed
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            timing.error = f"{type(error).__name__}: {lines[-1][:160] if lines else ''}"
        timings.append(timing)
    live = [t for t in timings if t.error is None]
    interleaved([timer for t in live for timer in (t.short, t.long)], rounds)
    return timings


def report_variants(timings: list[VariantTiming], data: Data, tune_seconds: float) -> None:
    """Seconds per epoch of each variant (its steps + the tune loss), the ratio to main, and
    the hours to early stopping at the earliest epoch it can come (same epochs for all: for the
    variants that are another training this is only the cost of that many epochs)."""
    print(
        f"\nSpeed-ups, interleaved in one run ({timings[0].steps} steps each, per epoch: the "
        f"steps at its batch size + the tune loss {tune_seconds:.1f} s):"
    )
    print(
        f"{'variant':<48} {'same model':>10} {'ms/step':>8} {'CPU ms':>7} {'s/epoch':>8} "
        f"{'x main':>7} {'x main CPU':>10} {'h to stop':>9}"
    )
    base = next((t for t in timings if t.variant.key == "main" and t.error is None), None)
    earliest = LAST_IMPROVING_EPOCH + PUBLISHED.optim.patience
    base_epoch = base_cpu = None
    if base is not None:
        wall, cpu = base.seconds_per_step()
        steps = data.steps_per_epoch(base.variant.batch_size)
        base_epoch, base_cpu = wall * steps + tune_seconds, cpu * steps
    for t in timings:
        same = "yes" if t.variant.same_model else "no"
        if t.error is not None:
            print(f"{t.variant.name:<48} {same:>10}  not run: {t.error}")
            continue
        wall, cpu = t.seconds_per_step()
        steps = data.steps_per_epoch(t.variant.batch_size)
        epoch = wall * steps + tune_seconds
        ratio = "" if base_epoch is None else f"{base_epoch / epoch:7.2f}"
        ratio_cpu = "" if base_cpu is None else f"{base_cpu / (cpu * steps):10.2f}"
        print(
            f"{t.variant.name:<48} {same:>10} {wall * 1e3:8.1f} {cpu * 1e3:7.1f} "
            f"{epoch:8.1f} {ratio:>7} {ratio_cpu:>10} {epoch * earliest / 3600:9.2f}"
        )


# --- the profiler trace ---------------------------------------------------------------------


def trace_fit(model: keras.Model, data: Data, steps: int, logdir: Path, batch_size: int) -> None:
    """Trace `steps` steps of fit into `logdir`, print op self-time summed by op type."""
    run = fit_steps(model, data, steps, batch_size)
    run()  # traced functions exist before the trace starts
    tf.profiler.experimental.start(str(logdir))
    run()
    tf.profiler.experimental.stop()
    paths = sorted(glob.glob(str(logdir / "plugins" / "profile" / "*" / "*.xplane.pb")))
    if not paths:
        print(f"no trace written under {logdir}")
        return
    by_type = op_time_by_type(paths[-1])
    total = sum(by_type.values())
    print(f"\nTensorFlow profiler, {steps} steps of fit: op self-time by op type ({paths[-1]})")
    print(f"{'op type':<40} {'ms/step':>8} {'share':>6}")
    for op_type, micros in sorted(by_type.items(), key=lambda kv: -kv[1])[:18]:
        print(f"{op_type:<40} {micros / steps / 1e3:8.2f} {micros / total:6.1%}")
    print(f"{'all ops':<40} {total / steps / 1e3:8.2f}")


def op_time_by_type(xplane: str) -> dict[str, float]:
    """Total self-time (microseconds) per op type, from the profiler's framework op stats."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    raw, ok = _pywrap_profiler_plugin.xspace_to_tools_data([xplane], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"could not read the trace {xplane}")
    table = json.loads(raw)[0]
    columns = [c["id"] for c in table["cols"]]
    type_at, self_at = columns.index("type"), columns.index("total_self_time")
    totals: dict[str, float] = {}
    for row in table["rows"]:
        cells = [c.get("v") for c in row["c"]]
        if cells[type_at] == "IDLE":
            continue
        totals[cells[type_at]] = totals.get(cells[type_at], 0.0) + float(cells[self_at])
    return totals


# --- report ---------------------------------------------------------------------------------


def shapes_of(data: Data) -> Shapes:
    params = PUBLISHED.params
    return Shapes(
        batch=PUBLISHED.optim.batch_size,
        length=data.codes.shape[1],
        features=data.table.shape[1],
        filters=params.filters,
        dense_units=params.dense_units,
        codes=data.table.shape[0],
        edges=int(np.count_nonzero(data.graph)),
    )


def projection(seconds_per_epoch: float, epochs: int) -> str:
    hours = seconds_per_epoch * epochs / 3600
    return f"{epochs} epochs x {seconds_per_epoch:.1f} s = {hours:.2f} h"


@dataclass
class StepProfile:
    """The timers of the profile of one model, measured together."""

    parts: list[Part]
    part_timers: list[Timer]
    bare: Timer
    fit_short: Timer
    fit: Timer
    pipeline: Timer
    tune: Timer
    roof: Timer
    roof_flops: float
    steps: int

    def seconds_per_step(self) -> tuple[float, float]:
        """Wall and CPU seconds of one fit step, without the set-up of a fit call."""
        wall = (self.fit.seconds - self.fit_short.seconds) / self.steps
        cpu = (self.fit.cpu_seconds - self.fit_short.cpu_seconds) / self.steps
        return wall, cpu


def profile_step(
    model: keras.Model, data: Data, shapes: Shapes, args: argparse.Namespace
) -> StepProfile:
    execution = STEPS_PER_EXECUTION
    # two fit calls, `execution` and `execution + steps` steps: their difference is the cost of
    # `steps` steps without the set-up of a fit call (a job makes one call for all epochs)
    parts = step_parts(model, data, shapes, main_layers=args.layers == "main")
    roof_run, roof_flops = matmul_roofline(shapes)
    prof = StepProfile(
        parts=parts,
        part_timers=[Timer(p.name, p.run, args.part_calls) for p in parts],
        bare=Timer("bare step", bare_step(model, data, shapes.batch), args.part_calls),
        fit_short=Timer("fit, one execution", fit_steps(model, data, execution, shapes.batch)),
        fit=Timer("fit", fit_steps(model, data, execution + args.steps, shapes.batch)),
        pipeline=Timer("input pipeline", input_pipeline(data, shapes.batch, args.steps)),
        tune=Timer("tune loss", tune_loss(model, data)),
        roof=Timer("matmul roofline", roof_run, 5),
        roof_flops=roof_flops,
        steps=args.steps,
    )
    timers = [prof.fit_short, prof.fit, prof.tune, prof.bare, prof.pipeline, *prof.part_timers]
    interleaved([*timers, prof.roof], args.rounds)
    return prof


def report_profile(prof: StepProfile, data: Data, shapes: Shapes, layers: str, rounds: int) -> None:
    per_step, per_step_cpu = prof.seconds_per_step()
    steps_per_epoch = data.steps_per_epoch(shapes.batch)
    print(
        f"\nOne training step (batch {shapes.batch}, {layers} layers), medians of {rounds} rounds:"
    )
    print(f"{'part':<56} {'ms wall':>8} {'ms CPU':>7} {'share':>6} {'MFLOP':>7} {'GFLOP/s':>8}")

    def row(name: str, seconds: float, cpu: float, flops: float | None = None) -> None:
        rate = "" if not flops else f"{flops / seconds / 1e9:8.1f}"
        mflop = "" if not flops else f"{flops / 1e6:7.0f}"
        print(
            f"{name:<56} {seconds * 1e3:8.2f} {cpu * 1e3:7.2f} {seconds / per_step:6.1%} "
            f"{mflop:>7} {rate:>8}"
        )

    for part, timer in zip(prof.parts, prof.part_timers, strict=True):
        row(part.name, timer.seconds, timer.cpu_seconds, part.flops)
    step_flops = sum(p.flops for p in prof.parts)
    row(
        "sum of the parts",
        sum(t.seconds for t in prof.part_timers),
        sum(t.cpu_seconds for t in prof.part_timers),
        step_flops,
    )
    bare = prof.bare
    row(
        "bare tf.function step (forward, backward, Adam)",
        bare.seconds,
        bare.cpu_seconds,
        step_flops,
    )
    row("Keras fit step (what a job runs)", per_step, per_step_cpu, step_flops)
    row(
        "  Keras fit overhead (fit - bare step)",
        per_step - bare.seconds,
        per_step_cpu - bare.cpu_seconds,
    )
    pipe = prof.pipeline
    row(
        "input pipeline alone (runs beside: prefetch)",
        pipe.seconds / prof.steps,
        pipe.cpu_seconds / prof.steps,
    )
    tune = prof.tune
    row(
        "tune loss per epoch, per step",
        tune.seconds / steps_per_epoch,
        tune.cpu_seconds / steps_per_epoch,
    )
    call = prof.fit_short.seconds - STEPS_PER_EXECUTION * per_step
    roof_rate = prof.roof_flops / prof.roof.seconds / 1e9
    achieved = step_flops / per_step / 1e9
    print(f"set-up of one fit call (once per job, not per step): {call:.2f} s")
    print(
        f"matmul at the conv's shape ({shapes.node_rows} x {shapes.filters} x {shapes.filters}): "
        f"{roof_rate:.1f} GFLOP/s on this machine; the fit step does {step_flops / 1e9:.2f} GFLOP "
        f"at {achieved:.1f} GFLOP/s ({achieved / roof_rate:.0%} of it)"
    )
    epoch = per_step * steps_per_epoch + tune.seconds
    epoch_cpu = per_step_cpu * steps_per_epoch + tune.cpu_seconds
    print(
        f"\nseconds per epoch: {epoch:.1f} wall, {epoch_cpu:.1f} CPU ({steps_per_epoch} steps x "
        f"{per_step * 1e3:.1f} ms + tune loss {tune.seconds:.1f} s)"
    )
    earliest = LAST_IMPROVING_EPOCH + PUBLISHED.optim.patience
    print(
        f"projected wall time to early stopping: at least {projection(epoch, earliest)} (the "
        f"2-thread run still improved at epoch {LAST_IMPROVING_EPOCH}, patience "
        f"{PUBLISHED.optim.patience}); at most {projection(epoch, PUBLISHED.optim.max_epochs)} "
        f"(max_epochs)"
    )
    print("published: " + ", ".join(f"{k} {v:g} h" for k, v in PUBLISHED_HOURS.items()))
    print(
        f"under 1 h needs {3600 / earliest:.1f} s/epoch at {earliest} epochs "
        f"({epoch / (3600 / earliest):.2f}x faster than this)"
    )


def variant_keys(text: str) -> list[str]:
    """`--variants a,b`: the keys of VARIANTS named, in that order ('' for none)."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if unknown := [k for k in keys if k not in VARIANTS]:
        raise argparse.ArgumentTypeError(f"unknown {unknown}, choose from {', '.join(VARIANTS)}")
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="(default $DMSWEEP_DATA_DIR)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=96, help="fit steps per timed call")
    parser.add_argument("--part-calls", type=int, default=30, help="calls per part per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--layers",
        choices=("current", "main"),
        default="current",
        help="profile the convs as the current code runs them, or as main did",
    )
    parser.add_argument("--trace", type=Path, default=None, help="profiler log directory")
    parser.add_argument(
        "--variants",
        type=variant_keys,
        default=list(VARIANTS),
        help="comma-separated speed-ups to time (default: all; '' for none): "
        + ", ".join(f"{k} ({v.name})" for k, v in VARIANTS.items()),
    )
    parser.add_argument("--no-profile", action="store_true", help="time the variants only")
    args = parser.parse_args(argv)
    names = args.variants

    threads = configure_threads(args.threads)
    data = load(args.data_dir)
    shapes = shapes_of(data)
    print(
        f"published GCN on avGFP splits/main: {len(data.train)} train "
        f"({data.steps_per_epoch(shapes.batch)} steps of {shapes.batch}), {len(data.tune)} tune; "
        f"graph {shapes.edges} edges ({shapes.edges / shapes.length**2:.1%} dense); "
        f"threads {threads}; TensorFlow {tf.__version__}",
        flush=True,
    )
    model = VARIANTS[args.layers].build(data)
    tune = Timer("tune loss", tune_loss(model, data))
    if not args.no_profile:
        prof = profile_step(model, data, shapes, args)
        report_profile(prof, data, shapes, args.layers, args.rounds)
        tune = prof.tune
    else:
        interleaved([tune], args.rounds)
    if args.trace is not None:
        trace_fit(model, data, args.steps, args.trace, shapes.batch)
    if names:
        timings = time_variants(names, data, args.steps, args.rounds)
        report_variants(timings, data, tune.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
