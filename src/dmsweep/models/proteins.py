"""Models of protein sets: the `cnn` and `gcn` model types over proteins of different lengths.

The dataset kind decides the input pipeline, the model type names stay (docs/train.md). A
protein-set model takes padded batches (`dmsweep.data.protein_batches`): int8 codes (B, L)
with `PAD_CODE` past each protein's end, and for the gcn a padded edge list (B, E, 2) with
weights (B, E). Every layer masks the padding, so a protein's prediction does not depend on
what it is batched with:

- `cnn`: the encoding lookup, `layers` 1-D convolutions with `same` padding (the padding rows
  are zero, as a convolution's own zero padding, and are zeroed again after each layer),
  then the masked mean and max over residues, a dense layer with dropout and the output.
- `gcn`: the encoding lookup, `layers` graph convolutions over each protein's own residue
  graph (`X W_self + D^-1 A X W_nbr + b`, the variant GCN's convolution, as a gather and a
  segment sum over the padded edge list: never an L x L matrix), global attention pooling
  over the real residues (`MaskedAttentionPool`: softmax weights that sum to one per
  protein, zero on padding), a dense layer with dropout and the output.

The output is one unit (a score, or p(class 1) of a binary task: sigmoid) or one per class
(softmax), always float32. A `plm` on a protein set is the pretrained encoder with the same
outputs (`dmsweep.models.plm`, loaded only for it): it tokenises the same padded codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dmsweep._tf import keras, tf
from dmsweep.config import CNNParams, GCNParams, ModelParams, PLMParams
from dmsweep.data.protein_batches import NUM_CODES, PAD_CODE
from dmsweep.data.tasks import BINARY, MULTICLASS, Task
from dmsweep.errors import TrainingError
from dmsweep.models.builders import LEAKY_SLOPE
from dmsweep.models.layers import PACKAGE, EncodingLookup

CODES, EDGES, EDGE_WEIGHTS = "codes", "edges", "edge_weights"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResidueMask(keras.layers.Layer):
    """float32 (B, L): 1 for a residue, 0 past the end of its protein (PAD_CODE)."""

    def call(self, codes: tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.not_equal(tf.cast(codes, tf.int32), PAD_CODE), tf.float32)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskResidues(keras.layers.Layer):
    """Features (B, L, F) with the padding positions set to zero."""

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x, mask = inputs
        return x * tf.cast(mask, x.dtype)[..., None]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedMeanMaxPool(keras.layers.Layer):
    """(B, L, F) -> (B, 2F): the mean and the maximum of each feature over real residues."""

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x, mask = inputs
        x = tf.cast(x, tf.float32)
        weights = mask[..., None]
        count = tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        mean = tf.reduce_sum(x * weights, axis=1) / count
        lowest = tf.constant(np.finfo(np.float32).min, tf.float32)
        peak = tf.reduce_max(tf.where(weights > 0, x, lowest), axis=1)
        return tf.concat([mean, peak], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape[0])
        return (shape[0], 2 * shape[-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class EdgeGraphConv(keras.layers.Layer):
    """`X W_self + D^-1 A X W_nbr + b` over each protein's own graph, in padded batch mode.

    Inputs: features (B, L, F), edges int32 (B, E, 2) of (source, target) residue indices,
    weights (B, E) (1 / in-degree of the target; 0 on padding edges). The neighbour average
    is a gather of the source rows and a segment sum onto the targets, over the batch
    flattened to B * L rows: O(E F) work and memory, where a dense adjacency is O(L^2).
    """

    def __init__(self, channels: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape: Any) -> None:
        features = int(input_shape[0][-1])
        limit = 1.0 / float(np.sqrt(features * self.channels))  # as the variant GCN (nn4dms)
        # Drawn neighbours first, as the variant GCN draws its kernels (`kernel_1` weighs the
        # neighbours), so one seed gives both the same initial weights; the weights keep
        # their order (kernel_self first), so saved models load as before.
        shape = (features, self.channels)
        drawn = {
            name: keras.initializers.RandomUniform(-limit, limit)(shape).numpy()
            for name in ("kernel_neighbours", "kernel_self")
        }
        for name in ("kernel_self", "kernel_neighbours"):
            initializer = keras.initializers.Constant(drawn[name])
            setattr(self, name, self.add_weight(name=name, shape=shape, initializer=initializer))
        self.bias = self.add_weight(name="bias", shape=(self.channels,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x, edges, weights = inputs
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        rows = tf.reshape(x, (-1, x.shape[-1]))
        offsets = (tf.range(batch) * length)[:, None]
        sources = tf.reshape(edges[..., 0] + offsets, (-1,))
        targets = tf.reshape(edges[..., 1] + offsets, (-1,))
        messages = tf.gather(rows, sources) * tf.cast(tf.reshape(weights, (-1, 1)), rows.dtype)
        average = tf.math.unsorted_segment_sum(messages, targets, batch * length)
        out = tf.matmul(rows, self.kernel_self) + tf.matmul(average, self.kernel_neighbours)
        out = tf.nn.bias_add(out, self.bias)
        return tf.reshape(out, (batch, length, self.channels))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*tuple(input_shape[0])[:-1], self.channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedAttentionPool(keras.layers.Layer):
    """Global attention pooling over the real residues of each protein.

    `attention([x, mask])` gives the (B, L) weights: a softmax of `x a` over the protein's
    residues (padding gets weight 0), so each protein's weights sum to one; the pooled
    representation is the weighted sum of the residue features (spektral's
    GlobalAttnSumPool, with a mask).
    """

    def build(self, input_shape: Any) -> None:
        features = int(input_shape[0][-1])
        self.attn_kernel = self.add_weight(
            name="attn_kernel", shape=(features, 1), initializer="glorot_uniform"
        )
        super().build(input_shape)

    def attention(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x, mask = inputs
        logits = tf.cast(tf.squeeze(tf.matmul(x, self.attn_kernel), -1), tf.float32)
        logits = tf.where(mask > 0, logits, tf.constant(-1e30, tf.float32))
        weights = tf.nn.softmax(logits, axis=-1)
        return weights * mask  # exactly zero on padding

    def call(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        weights = self.attention(inputs)
        x = inputs[0]
        return tf.einsum("bl,blf->bf", tf.cast(weights, x.dtype), x)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape[0])
        return (shape[0], shape[-1])


PROTEIN_LAYERS = (ResidueMask, MaskResidues, MaskedMeanMaxPool, EdgeGraphConv, MaskedAttentionPool)


def build_protein_model(
    params: ModelParams, *, table: np.ndarray, task: Task, pretrained: Path | None = None
) -> keras.Model:
    """The (uncompiled) protein-set model of `params` (cnn, gcn, or plm with its `pretrained`
    directory) for `task`."""
    if isinstance(params, PLMParams):
        if pretrained is None:
            raise TrainingError("plm: the model needs its pretrained directory, none was given")
        from dmsweep.models import plm

        return plm.build_plm(params, pretrained, None, task)
    table = np.asarray(table, dtype=np.float32)
    if table.shape[0] != NUM_CODES:
        raise TrainingError(f"a protein set's table has {NUM_CODES} rows, got {table.shape}")
    codes = keras.Input(shape=(None,), dtype="int8", name=CODES)
    x = EncodingLookup(table.shape[0], table.shape[1], table=table, name="encoding")(codes)
    mask = ResidueMask(name="mask")(codes)
    if isinstance(params, CNNParams):
        inputs = [codes]
        for i in range(1, params.layers + 1):
            x = keras.layers.Conv1D(
                params.filters, params.kernel_size, padding="same", name=f"conv{i}"
            )(x)
            x = keras.layers.LeakyReLU(alpha=LEAKY_SLOPE, name=f"conv{i}_act")(x)
            x = MaskResidues(name=f"conv{i}_mask")([x, mask])
        x = MaskedMeanMaxPool(name="pool")([x, mask])
    elif isinstance(params, GCNParams):
        edges = keras.Input(shape=(None, 2), dtype="int32", name=EDGES)
        weights = keras.Input(shape=(None,), dtype="float32", name=EDGE_WEIGHTS)
        inputs = [codes, edges, weights]
        for i in range(1, params.layers + 1):
            x = EdgeGraphConv(params.filters, name=f"graphconv{i}")([x, edges, weights])
            x = keras.layers.LeakyReLU(alpha=LEAKY_SLOPE, name=f"graphconv{i}_act")(x)
            x = MaskResidues(name=f"graphconv{i}_mask")([x, mask])
        x = MaskedAttentionPool(name="attention_pool")([x, mask])
    else:
        raise TrainingError(f"model {params.model!r} does not train on a protein set")
    x = keras.layers.Dense(params.dense_units, name="dense")(x)
    x = keras.layers.LeakyReLU(alpha=LEAKY_SLOPE, name="dense_act")(x)
    x = keras.layers.Dropout(params.dropout, name="dense_dropout")(x)
    out = keras.layers.Dense(
        task.outputs, activation=task.output_activation, dtype="float32", name="output"
    )(x)
    return keras.Model(inputs, out, name=params.model)


def protein_loss(task: Task) -> Any:
    """Binary or categorical cross-entropy (on probabilities), or the MSE of a regression."""
    if task.kind == BINARY:
        return keras.losses.BinaryCrossentropy()
    if task.kind == MULTICLASS:
        return keras.losses.SparseCategoricalCrossentropy()
    return "mse"


def protein_probabilities(model: keras.Model, inputs: dict[str, np.ndarray], task: Task) -> Any:
    """float32 outputs of one batch: (B, C) class probabilities, or (B,) scores."""
    return task_outputs(model(_model_inputs(model, inputs), training=False).numpy(), task)


def task_outputs(out: np.ndarray, task: Task) -> np.ndarray:
    """A model's raw outputs as `protein_probabilities` gives them: (B, C) probabilities
    (a binary task's one unit p(class 1) becomes both columns), or (B,) scores."""
    if task.kind == BINARY:
        p1 = out.reshape(-1)
        return np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
    if task.kind == MULTICLASS:
        return out.astype(np.float32)
    return out.reshape(-1).astype(np.float32)


def protein_attention(model: keras.Model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """float32 (B, L) per-residue attention weights of a gcn's attention pooling (each
    protein's weights sum to one over its residues; zero past its end)."""
    pools = [layer for layer in model.layers if isinstance(layer, MaskedAttentionPool)]
    if not pools:
        raise TrainingError(f"model {model.name!r} has no attention pooling")
    pool = pools[0]
    features = keras.Model(model.inputs, pool.input)
    x, mask = features(_model_inputs(model, inputs), training=False)
    return pool.attention([x, mask]).numpy()


def _model_inputs(model: keras.Model, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [inputs[name] for name in model.input_names]
