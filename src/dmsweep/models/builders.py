"""One Keras model builder per model type, looked up in `MODEL_BUILDERS` by `params.model`.

Every model takes the int8 residue-code matrix (batch, L) and starts with the fixed encoding
lookup (the GCN folds it into its first graph conv, `EncodedGraphConv`). Every hidden
activation is leaky ReLU with slope 0.2 (`tf.nn.leaky_relu`, as nn4dms); the output is one
score per variant, shape (batch, 1). Architectures follow the published network specs
(gitter-lab/nn4dms `network_specs/`): convolutions with `valid` padding, a dense layer plus
dropout after convolutions, flatten before dense layers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmsweep._tf import keras
from dmsweep.config import CNNParams, FCParams, GCNParams, LinearParams, ModelParams, PLMParams
from dmsweep.errors import TrainingError
from dmsweep.models.layers import (
    AttentionPool,
    BatchMajor,
    EncodedGraphConv,
    EncodingLookup,
    SharedGraphConv,
    neighbour_average,
)

LEAKY_SLOPE = 0.2
"""Slope of leaky ReLU for negative inputs: tf.nn.leaky_relu's default, used by nn4dms."""


@dataclass(frozen=True)
class ModelInputs:
    """What a builder needs besides its params: the encoding table and, for GCNs, the graph.

    `table` is the float32 (21, F) encoding table; `length` the sequence length L;
    `adjacency` the bool (L, L) residue graph (GCN only); `pretrained` the checked model
    directory (PLM only).
    """

    table: np.ndarray
    length: int
    adjacency: np.ndarray | None = None
    pretrained: Path | None = None


Builder = Callable[[Any, ModelInputs], keras.Model]
MODEL_BUILDERS: dict[str, Builder] = {}


def register(model_type: str) -> Callable[[Builder], Builder]:
    """Decorator: make `fn` the builder of `model_type` (one builder per type)."""

    def add(fn: Builder) -> Builder:
        if model_type in MODEL_BUILDERS:
            raise ValueError(f"a builder for {model_type!r} is already registered")
        MODEL_BUILDERS[model_type] = fn
        return fn

    return add


@contextlib.contextmanager
def precision_policy(precision: str | None) -> Iterator[None]:
    """Build (and compile) under a Keras mixed-precision policy, then back to float32: the
    policy is process-wide, and the next training of a batch may not want it."""
    if precision is None:
        yield
        return
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def build_model(params: ModelParams, inputs: ModelInputs) -> keras.Model:
    """The (uncompiled) Keras model for `params`, named after its model type."""
    try:
        builder = MODEL_BUILDERS[params.model]
    except KeyError:
        raise TrainingError(
            f"no model builder for {params.model!r} (known: {sorted(MODEL_BUILDERS)})"
        ) from None
    return builder(params, inputs)


def _encoded_input(inputs: ModelInputs) -> tuple[keras.KerasTensor, Any]:
    codes = keras.Input(shape=(inputs.length,), dtype="int8", name="codes")
    table = np.asarray(inputs.table, dtype=np.float32)
    encoded = EncodingLookup(table.shape[0], table.shape[1], table=table, name="encoding")(codes)
    return codes, encoded


def _output_layer() -> keras.layers.Layer:
    """The one-unit score, always float32: under a mixed-precision policy the layers before
    it compute in float16/bfloat16, the loss and the saved predictions do not."""
    return keras.layers.Dense(1, dtype="float32", name="output")


def _leaky(name: str) -> keras.layers.Layer:
    return keras.layers.LeakyReLU(alpha=LEAKY_SLOPE, name=name)


def _dense_head(x: Any, units: int, dropout: float) -> Any:
    """Dense(units) + leaky ReLU + dropout, then the one-unit output layer."""
    x = keras.layers.Dense(units, name="dense")(x)
    x = _leaky("dense_act")(x)
    x = keras.layers.Dropout(dropout, name="dense_dropout")(x)
    return _output_layer()(x)


@register("linear")
def build_linear(params: LinearParams, inputs: ModelInputs) -> keras.Model:
    codes, x = _encoded_input(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    out = _output_layer()(x)
    return keras.Model(codes, out, name="linear")


@register("fc")
def build_fc(params: FCParams, inputs: ModelInputs) -> keras.Model:
    codes, x = _encoded_input(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in range(1, params.layers + 1):
        x = keras.layers.Dense(params.units, name=f"dense{i}")(x)
        x = _leaky(f"dense{i}_act")(x)
        x = keras.layers.Dropout(params.dropout, name=f"dense{i}_dropout")(x)
    out = _output_layer()(x)
    return keras.Model(codes, out, name="fc")


@register("cnn")
def build_cnn(params: CNNParams, inputs: ModelInputs) -> keras.Model:
    remaining = inputs.length - params.layers * (params.kernel_size - 1)
    if remaining < 1:
        raise TrainingError(
            f"cnn: {params.layers} convolutions of kernel_size {params.kernel_size} ('valid' "
            f"padding) do not fit a sequence of length {inputs.length}"
        )
    codes, x = _encoded_input(inputs)
    for i in range(1, params.layers + 1):
        x = keras.layers.Conv1D(
            params.filters, params.kernel_size, padding="valid", name=f"conv{i}"
        )(x)
        x = _leaky(f"conv{i}_act")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = _dense_head(x, params.dense_units, params.dropout)
    return keras.Model(codes, out, name="cnn")


@register("gcn")
def build_gcn(params: GCNParams, inputs: ModelInputs) -> keras.Model:
    if inputs.adjacency is None:
        raise TrainingError("gcn: the model needs a residue graph (adjacency), none was given")
    adjacency = np.asarray(inputs.adjacency)
    if adjacency.shape != (inputs.length, inputs.length):
        raise TrainingError(
            f"gcn: the residue graph has {adjacency.shape[0]} nodes but the sequence has "
            f"{inputs.length} residues"
        )
    a_hat = neighbour_average(adjacency)
    codes = keras.Input(shape=(inputs.length,), dtype="int8", name="codes")
    table = np.asarray(inputs.table, dtype=np.float32)
    x = EncodedGraphConv(
        params.filters,
        inputs.length,
        table.shape[0],
        table.shape[1],
        adjacency=a_hat,
        table=table,
        name="graphconv1",
    )(codes)
    x = _leaky("graphconv1_act")(x)
    for i in range(2, params.layers + 1):
        x = SharedGraphConv(params.filters, inputs.length, adjacency=a_hat, name=f"graphconv{i}")(x)
        x = _leaky(f"graphconv{i}_act")(x)
    x = BatchMajor(name="batch_major")(x)
    if params.pooling == "attention":
        x = AttentionPool(name="attention_pool")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    out = _dense_head(x, params.dense_units, params.dropout)
    return keras.Model(codes, out, name="gcn")


@register("plm")
def build_plm(params: PLMParams, inputs: ModelInputs) -> keras.Model:
    """The pretrained language model and its regression head (models/plm.py, which loads
    `transformers`: imported only for this model type)."""
    if inputs.pretrained is None:
        raise TrainingError("plm: the model needs its pretrained directory, none was given")
    from dmsweep.models import plm

    return plm.build_plm(params, inputs.pretrained, inputs.length)
