"""The layers that make dmsweep models fast: a fixed encoding lookup and a shared-graph conv.

All three are registered Keras serializables (package "dmsweep"), so a saved `.keras` model
loads wherever `dmsweep.models` is importable; `custom_objects()` names them as well.

- `EncodingLookup`: int8 residue codes (batch, L) -> (batch, L, F) by indexing the fixed
  (21, F) encoding table, a non-trainable weight. The data stays int8 codes (237 bytes per
  variant); the float features exist only for one batch at a time.
- `SharedGraphConv`: the published graph convolution (nn4dms `node_average_gc`): own-node
  weights plus neighbour-average weights, `X W_self + D^-1 A X W_nbr + b`. It is spektral's
  `GCSConv` (`A_hat X W_1 + X W_2 + b`) with `A_hat = D^-1 A` held in a non-trainable weight
  of the layer: one adjacency for every variant ("mixed mode"), never an input per sample.
- `AttentionPool`: spektral's `GlobalAttnSumPool` (softmax attention over residues, sum of
  the residue features), plus `attention()` that returns the per-residue attention weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from spektral.layers import GCSConv, GlobalAttnSumPool
from tensorflow import keras

PACKAGE = "dmsweep"


@keras.saving.register_keras_serializable(package=PACKAGE)
class EncodingLookup(keras.layers.Layer):
    """Fixed per-residue encoding: `table[codes]`, the table a non-trainable weight."""

    def __init__(self, num_codes: int, num_features: int, table: Any = None, **kwargs: Any) -> None:
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.num_codes = int(num_codes)
        self.num_features = int(num_features)
        self._initial_table = None if table is None else np.asarray(table, dtype=np.float32)
        if self._initial_table is not None and self._initial_table.shape != (
            self.num_codes,
            self.num_features,
        ):
            raise ValueError(
                f"encoding table has shape {self._initial_table.shape}, "
                f"expected ({self.num_codes}, {self.num_features})"
            )

    def build(self, input_shape: Any) -> None:
        initial = self._initial_table
        self.table = self.add_weight(
            name="table",
            shape=(self.num_codes, self.num_features),
            initializer="zeros" if initial is None else keras.initializers.Constant(initial),
            trainable=False,
        )
        super().build(input_shape)

    def call(self, codes: tf.Tensor) -> tf.Tensor:
        return tf.gather(self.table, tf.cast(codes, tf.int32))

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*tuple(input_shape), self.num_features)

    def get_config(self) -> dict[str, Any]:
        # The table itself is a weight, saved with the model; the config holds its shape.
        return {
            **super().get_config(),
            "num_codes": self.num_codes,
            "num_features": self.num_features,
        }


def neighbour_average(adjacency: np.ndarray) -> np.ndarray:
    """Row-normalised adjacency `D^-1 A` (float32), rows of isolated residues left zero.

    As nn4dms `node_average_gc`: the neighbour signal is divided by max(1, degree).
    """
    a = np.asarray(adjacency, dtype=np.float32)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be a square matrix, got shape {a.shape}")
    degree = np.maximum(1.0, a.sum(axis=1, keepdims=True))
    return (a / degree).astype(np.float32)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SharedGraphConv(GCSConv):
    """Published node-average graph conv over one residue graph shared by the whole batch.

    Input (batch, L, F) node features; output (batch, L, channels). The normalised adjacency
    `D^-1 A` (L, L) is a non-trainable weight (`adjacency`), saved and loaded with the model.
    `kernel_1` weighs the neighbour average, `kernel_2` the residue itself (spektral names).

    The neighbour product runs at the narrower of the two widths: `(A_hat X) W_1` when the
    input has fewer features than the output, else `A_hat (X W_1)` (same result).
    Weights start uniform in +-1/sqrt(F * channels) as in nn4dms unless an initializer is given.
    """

    def __init__(
        self,
        channels: int,
        num_nodes: int,
        adjacency: Any = None,
        kernel_initializer: Any = None,
        **kwargs: Any,
    ) -> None:
        self._nn4dms_init = kernel_initializer is None
        super().__init__(
            channels, kernel_initializer=kernel_initializer or "glorot_uniform", **kwargs
        )
        # spektral's Conv wraps `call` to check (x, a) pairs; this layer takes x alone.
        del self.call
        self.num_nodes = int(num_nodes)
        self._initial_adjacency = (
            None if adjacency is None else np.asarray(adjacency, dtype=np.float32)
        )
        if self._initial_adjacency is not None and self._initial_adjacency.shape != (
            self.num_nodes,
            self.num_nodes,
        ):
            raise ValueError(
                f"adjacency has shape {self._initial_adjacency.shape}, "
                f"expected ({self.num_nodes}, {self.num_nodes})"
            )

    def build(self, input_shape: Any) -> None:
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[1] != self.num_nodes:
            raise ValueError(
                f"SharedGraphConv expects (batch, {self.num_nodes}, features), got {input_shape}"
            )
        features = int(input_shape[-1])
        initial = self._initial_adjacency
        self.adjacency = self.add_weight(
            name="adjacency",
            shape=(self.num_nodes, self.num_nodes),
            initializer="zeros" if initial is None else keras.initializers.Constant(initial),
            trainable=False,
        )
        # kernel_1 (neighbours), kernel_2 (self), bias: the names spektral's GCSConv uses
        for name in ("kernel_1", "kernel_2"):
            weight = self.add_weight(
                name=name,
                shape=(features, self.channels),
                initializer=self._kernel_init(features),
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
            setattr(self, name, weight)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.channels,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    def _kernel_init(self, features: int) -> keras.initializers.Initializer:
        """A fresh initializer per weight (one reused instance draws identical values)."""
        if self._nn4dms_init:
            limit = 1.0 / float(np.sqrt(features * self.channels))
            return keras.initializers.RandomUniform(-limit, limit)
        return self.kernel_initializer.__class__.from_config(self.kernel_initializer.get_config())

    def call(self, inputs: tf.Tensor, mask: Any = None) -> tf.Tensor:
        x = inputs
        a = self.adjacency[None]  # (1, L, L): broadcast over the batch (fastest measured)
        if x.shape[-1] is not None and x.shape[-1] < self.channels:
            neighbours = tf.matmul(tf.matmul(a, x), self.kernel_1)
        else:
            neighbours = tf.matmul(a, tf.matmul(x, self.kernel_1))
        output = neighbours + tf.matmul(x, self.kernel_2)
        if self.use_bias:
            output = tf.nn.bias_add(output, self.bias)
        return self.activation(output)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*tuple(input_shape)[:-1], self.channels)

    @property
    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "num_nodes": self.num_nodes}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self._nn4dms_init:
            # rebuilt identically from the input width; the trained weights are loaded anyway
            config.pop("kernel_initializer", None)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentionPool(GlobalAttnSumPool):
    """Softmax attention over residues, then the attention-weighted sum of residue features.

    `attention(x)` gives the (batch, L) weights (each row sums to 1): how much each residue
    contributes to the pooled representation of a variant.
    """

    def attention(self, x: tf.Tensor) -> tf.Tensor:
        logits = tf.squeeze(tf.matmul(x, self.attn_kernel), -1)
        return tf.nn.softmax(logits, axis=-1)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        weights = self.attention(inputs)
        return tf.einsum("bl,blf->bf", weights, inputs)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        shape = tuple(input_shape)
        return (shape[0], shape[-1])


def custom_objects() -> dict[str, type]:
    """Every layer class a saved dmsweep model may contain, for `keras.models.load_model`."""
    return {
        "EncodingLookup": EncodingLookup,
        "SharedGraphConv": SharedGraphConv,
        "AttentionPool": AttentionPool,
        f"{PACKAGE}>EncodingLookup": EncodingLookup,
        f"{PACKAGE}>SharedGraphConv": SharedGraphConv,
        f"{PACKAGE}>AttentionPool": AttentionPool,
    }
