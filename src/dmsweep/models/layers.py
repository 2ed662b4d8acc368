"""The layers that make dmsweep models fast: a fixed encoding lookup and shared-graph convs.

All are registered Keras serializables (package "dmsweep"), so a saved `.keras` model loads
wherever `dmsweep.models` is importable; `custom_objects()` names them as well.

- `EncodingLookup`: int8 residue codes (batch, L) -> (batch, L, F) by indexing the fixed
  (21, F) encoding table, a non-trainable weight. The data stays int8 codes (237 bytes per
  variant); the float features exist only for one batch at a time.
- `EncodedGraphConv`, `SharedGraphConv`: the published graph convolution (nn4dms
  `node_average_gc`): own-node weights plus neighbour-average weights,
  `X W_self + D^-1 A X W_nbr + b`. Both are spektral's `GCSConv` (`A_hat X W_1 + X W_2 + b`)
  with `A_hat = D^-1 A` held in a non-trainable weight of the layer: one adjacency for every
  variant ("mixed mode"), never an input per sample, applied as a sparse product. The first
  one reads residue codes and folds the encoding lookup into its weights; both run their two
  kernels as one matmul (bench/bench_gcn_profile.py).
- `BatchMajor`: graph convs pass node-major (L, batch, F) tensors; this turns them back.
- `AttentionPool`: spektral's `GlobalAttnSumPool` (softmax attention over residues, sum of
  the residue features), plus `attention()` that returns the per-residue attention weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from spektral.layers import GCSConv, GlobalAttnSumPool

from dmsweep._tf import csr_matmul, keras, tf

PACKAGE = "dmsweep"


@keras.saving.register_keras_serializable(package=PACKAGE)
class EncodingLookup(keras.layers.Layer):
    """Fixed per-residue encoding: `table[codes]`, the table a non-trainable weight."""

    def __init__(self, num_codes: int, num_features: int, table: Any = None, **kwargs: Any) -> None:
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.num_codes = int(num_codes)
        self.num_features = int(num_features)
        self._initial_table = _checked(table, (self.num_codes, self.num_features), "table")

    def build(self, input_shape: Any) -> None:
        self.table = _fixed_weight(
            self, "table", (self.num_codes, self.num_features), self._initial_table
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


class _SharedGraphConvBase(GCSConv):
    """spektral's GCSConv (`A_hat X W_1 + X W_2 + b`) over one graph held in a weight.

    Features are *node-major*, (L, batch, F): then the product with the shared sparse
    adjacency is one sparse-dense product of (L, L) by (L, batch * F), a reshape away, with
    no transpose per layer (measured fastest: bench/bench_speed.py), through TF's CSR kernel
    (`dmsweep._tf.csr_matmul`: `tf.sparse.sparse_dense_matmul` is ~8x slower on TF 2.21).
    `kernel_1` weighs the neighbour average, `kernel_2` the residue itself, as spektral names
    them.
    """

    def __init__(
        self,
        channels: int,
        num_nodes: int,
        adjacency: Any = None,
        sparse: bool = True,
        kernel_initializer: Any = None,
        **kwargs: Any,
    ) -> None:
        self._nn4dms_init = kernel_initializer is None
        super().__init__(
            channels, kernel_initializer=kernel_initializer or "glorot_uniform", **kwargs
        )
        # spektral's Conv wraps `call` to check (x, a) pairs; these layers take x alone.
        del self.call
        self.num_nodes = int(num_nodes)
        self.sparse = bool(sparse)
        self._initial_adjacency = _checked(adjacency, (self.num_nodes, self.num_nodes), "adjacency")

    def _add_graph_weights(self, features: int) -> None:
        self.adjacency = _fixed_weight(
            self, "adjacency", (self.num_nodes, self.num_nodes), self._initial_adjacency
        )
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

    def _kernel_init(self, features: int) -> keras.initializers.Initializer:
        """A fresh initializer per weight (one reused instance draws identical values).

        nn4dms draws uniform in +-1/sqrt(F * channels); another initializer can be given.
        """
        if self._nn4dms_init:
            limit = 1.0 / float(np.sqrt(features * self.channels))
            return keras.initializers.RandomUniform(-limit, limit)
        return self.kernel_initializer.__class__.from_config(self.kernel_initializer.get_config())

    def aggregate(self, h: tf.Tensor) -> tf.Tensor:
        """`A_hat h` for node-major h (L, batch, F): one product for the whole batch.

        The sparse product is in float32 whatever the compute dtype: TensorFlow's CSR kernel
        has no half-precision version (a mixed-precision model casts around it)."""
        shape = tf.shape(h)
        flat = tf.reshape(h, (self.num_nodes, -1))
        if self.sparse:
            adjacency = tf.sparse.from_dense(tf.cast(self.adjacency, tf.float32))
            out = tf.cast(csr_matmul(adjacency, tf.cast(flat, tf.float32)), flat.dtype)
        else:
            out = tf.matmul(tf.cast(self.adjacency, flat.dtype), flat)
        return tf.reshape(out, shape)

    def _from_narrow_input(self, x: tf.Tensor) -> tf.Tensor:
        """`x W_2 + (A_hat x) W_1` for node-major x narrower than the output (F < channels):
        the graph product runs on the F-wide input, not the channels-wide product, and the
        two kernels are one matmul of `[x, A_hat x]` (L * batch, 2F) by `[W_2; W_1]` (2F, C).
        The same function as `x W_2 + A_hat (x W_1)` (bench/bench_gcn_profile.py)."""
        features = x.shape[-1]
        both = tf.concat([x, self.aggregate(x)], axis=-1)
        kernel = tf.concat([self.kernel_2, self.kernel_1], axis=0)
        out = tf.matmul(tf.reshape(both, (-1, 2 * features)), kernel)
        return tf.reshape(out, tf.concat([tf.shape(x)[:-1], [self.channels]], axis=0))

    def _from_wide_input(self, x: tf.Tensor) -> tf.Tensor:
        """`x W_2 + A_hat (x W_1)` for node-major x at least as wide as the output: both
        kernels in one matmul of x (L * batch, F) by `[W_2, W_1]` (F, 2C), then the graph
        product on the channels-wide neighbour half."""
        rows = tf.reshape(x, (-1, x.shape[-1]))
        own, neighbours = tf.split(
            tf.matmul(rows, tf.concat([self.kernel_2, self.kernel_1], axis=1)), 2, axis=1
        )
        shape = tf.concat([tf.shape(x)[:-1], [self.channels]], axis=0)
        return tf.reshape(own, shape) + self.aggregate(tf.reshape(neighbours, shape))

    def _finish(self, output: tf.Tensor) -> tf.Tensor:
        if self.use_bias:
            output = tf.nn.bias_add(output, self.bias)
        return self.activation(output)

    @property
    def config(self) -> dict[str, Any]:
        return {"channels": self.channels, "num_nodes": self.num_nodes, "sparse": self.sparse}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self._nn4dms_init:
            # rebuilt identically from the input width; the trained weights are loaded anyway
            config.pop("kernel_initializer", None)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class EncodedGraphConv(_SharedGraphConvBase):
    """The first graph conv, fused with the fixed encoding lookup.

    Input: int8 residue codes (batch, L). With X = table[codes] the layer computes
    `X W_2 + A_hat X W_1 + b`, by the cheaper of two routes (bench/bench_gcn_profile.py):
    - the encoding narrower than the output (F < channels; the published GCN: 40 < 128):
      `[X, A_hat X] [W_2; W_1] + b`. The graph product runs on the F-wide encoding and needs
      no gradient (the table is fixed), and the kernels are one matmul;
    - otherwise `(table W_2)[codes] + A_hat (table W_1)[codes] + b`: the (21, F) table is
      multiplied by the kernels once per step instead of every residue of every variant.
    Output is node-major (L, batch, channels). The table is a non-trainable weight, as in
    `EncodingLookup`.
    """

    def __init__(
        self,
        channels: int,
        num_nodes: int,
        num_codes: int,
        num_features: int,
        adjacency: Any = None,
        table: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(channels, num_nodes, adjacency=adjacency, **kwargs)
        self.num_codes = int(num_codes)
        self.num_features = int(num_features)
        self._initial_table = _checked(table, (self.num_codes, self.num_features), "table")

    def build(self, input_shape: Any) -> None:
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 2 or input_shape[1] != self.num_nodes:
            raise ValueError(
                f"EncodedGraphConv expects codes (batch, {self.num_nodes}), got {input_shape}"
            )
        self.table = _fixed_weight(
            self, "table", (self.num_codes, self.num_features), self._initial_table
        )
        self._add_graph_weights(self.num_features)
        self.built = True

    def call(self, inputs: tf.Tensor, mask: Any = None) -> tf.Tensor:
        codes = tf.transpose(tf.cast(inputs, tf.int32))  # (L, batch): node-major from here
        if self.num_features < self.channels:  # the encoding is narrower: average it
            return self._finish(self._from_narrow_input(tf.gather(self.table, codes)))
        own = tf.gather(tf.matmul(self.table, self.kernel_2), codes)
        neighbours = self.aggregate(tf.gather(tf.matmul(self.table, self.kernel_1), codes))
        return self._finish(own + neighbours)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (self.num_nodes, tf.TensorShape(input_shape)[0], self.channels)

    @property
    def config(self) -> dict[str, Any]:
        return {
            **super().config,
            "num_codes": self.num_codes,
            "num_features": self.num_features,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class SharedGraphConv(_SharedGraphConvBase):
    """A further graph conv on node-major features (L, batch, F) -> (L, batch, channels)."""

    def build(self, input_shape: Any) -> None:
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[0] != self.num_nodes:
            raise ValueError(
                f"SharedGraphConv expects node-major ({self.num_nodes}, batch, features), "
                f"got {input_shape}"
            )
        self._add_graph_weights(int(input_shape[-1]))
        self.built = True

    def call(self, inputs: tf.Tensor, mask: Any = None) -> tf.Tensor:
        if inputs.shape[-1] < self.channels:  # average the narrower signal
            return self._finish(self._from_narrow_input(inputs))
        return self._finish(self._from_wide_input(inputs))

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*tuple(input_shape)[:-1], self.channels)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BatchMajor(keras.layers.Layer):
    """Node-major (L, batch, F) back to the usual (batch, L, F), once after the graph convs."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.transpose(inputs, (1, 0, 2))

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        shape = tuple(input_shape)
        return (shape[1], shape[0], shape[2])


def _fixed_weight(
    layer: keras.layers.Layer, name: str, shape: tuple[int, int], initial: np.ndarray | None
) -> tf.Variable:
    """A non-trainable weight: a constant of the model that is saved and loaded with it.

    Zeros when the layer is rebuilt from its config; loading then fills in the saved values.
    """
    initializer = "zeros" if initial is None else keras.initializers.Constant(initial)
    return layer.add_weight(name=name, shape=shape, initializer=initializer, trainable=False)


def _checked(value: Any, shape: tuple[int, int], name: str) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float32)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    return array


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
    classes = (EncodingLookup, EncodedGraphConv, SharedGraphConv, BatchMajor, AttentionPool)
    objects: dict[str, type] = {}
    for cls in classes:
        objects[cls.__name__] = cls
        objects[f"{PACKAGE}>{cls.__name__}"] = cls
    return objects
