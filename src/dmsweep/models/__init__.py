"""Keras models of variant effect: one builder per model type, shared layers, save and load.

`build_model(params, ModelInputs(table, length, adjacency))` builds the model a typed params
dataclass describes (`MODEL_BUILDERS` is the registry). Models take int8 residue codes and
start with a fixed lookup of the encoding table. `load_model` reads a saved `.keras` file;
`predict_scores` scores code matrices; `attention_scores` explains attention-pooling GCNs.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dmsweep._tf import keras, tf
from dmsweep.errors import JobFolderError
from dmsweep.models.builders import (
    MODEL_BUILDERS,
    ModelInputs,
    build_model,
    precision_policy,
    register,
)
from dmsweep.models.layers import (
    AttentionPool,
    BatchMajor,
    EncodedGraphConv,
    EncodingLookup,
    SharedGraphConv,
    custom_objects,
    neighbour_average,
)

PREDICT_BATCH_SIZE = 2048

__all__ = [
    "MODEL_BUILDERS",
    "AttentionPool",
    "BatchMajor",
    "EncodedGraphConv",
    "EncodingLookup",
    "ModelInputs",
    "SharedGraphConv",
    "attention_scores",
    "build_model",
    "compiled_attention",
    "compiled_scores",
    "custom_objects",
    "has_attention",
    "load_model",
    "neighbour_average",
    "precision_policy",
    "predict_scores",
    "register",
    "save_model",
]


def save_model(model: keras.Model, path: Path) -> None:
    """Save in the native `.keras` format (legacy `.h5` cannot hold these layers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)


def load_model(path: Path) -> keras.Model:
    """Load a model saved by `save_model` (inference only: not compiled)."""
    if not Path(path).is_file():
        raise JobFolderError(f"{path}: model file not found")
    if _holds_plm(Path(path)):
        import dmsweep.models.plm  # noqa: F401  (registers PLMBackbone with Keras)
    return keras.models.load_model(path, custom_objects=custom_objects(), compile=False)


def _holds_plm(model_file: Path) -> bool:
    """Whether a saved `.keras` file holds a PLMBackbone: only then is `transformers` loaded."""
    try:
        with zipfile.ZipFile(model_file) as archive:
            return b"PLMBackbone" in archive.read("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def predict_scores(
    model: keras.Model, codes: np.ndarray, *, batch_size: int = PREDICT_BATCH_SIZE
) -> np.ndarray:
    """float32 (n,): the model's score for each row of int8 codes (dropout off)."""
    return _scores_in_chunks(lambda x: model(x, training=False), codes, batch_size)


def has_attention(model: keras.Model) -> bool:
    return any(isinstance(layer, AttentionPool) for layer in model.layers)


def attention_scores(
    model: keras.Model, codes: np.ndarray, *, batch_size: int = PREDICT_BATCH_SIZE
) -> np.ndarray:
    """float32 (n, L): per-residue attention weights of an attention-pooling GCN.

    Each row sums to 1; a high weight marks a residue that dominates the pooled
    representation from which the variant's score is predicted.
    """
    return _attention_in_chunks(_attention_forward(model), codes, batch_size)


Scorer = Callable[..., np.ndarray]
"""(codes, batch_size=PREDICT_BATCH_SIZE) -> float32 scores (n,) or attention (n, L)."""


def compiled_scores(model: keras.Model, length: int) -> Scorer:
    """`predict_scores` of this model as a tf.function traced once for (n, length) codes.

    For a long-running caller (dmsweep serve): an eager Keras call costs about a
    millisecond of Python per call, more than a small model's arithmetic; the traced graph
    runs the same kernels (scores within float32 rounding of `predict_scores`: <1e-7 on the
    test fixtures) and a variant still scores the same alone and in any batch."""
    forward = _traced(lambda x: model(x, training=False), length)
    return lambda codes, batch_size=PREDICT_BATCH_SIZE: _scores_in_chunks(
        forward, codes, batch_size
    )


def compiled_attention(model: keras.Model, length: int) -> Scorer:
    """`attention_scores` of this model as a tf.function traced once (see compiled_scores)."""
    forward = _traced(_attention_forward(model), length)
    return lambda codes, batch_size=PREDICT_BATCH_SIZE: _attention_in_chunks(
        forward, codes, batch_size
    )


Forward = Callable[[tf.Tensor], tf.Tensor]


def _traced(forward: Forward, length: int) -> Forward:
    spec = tf.TensorSpec([None, length], tf.int8)
    return tf.function(forward, input_signature=[spec])


def _attention_forward(model: keras.Model) -> Forward:
    pools = [layer for layer in model.layers if isinstance(layer, AttentionPool)]
    if not pools:
        raise JobFolderError(
            f"model {model.name!r} has no attention pooling (train a gcn with pooling: attention)"
        )
    pool = pools[0]
    features = keras.Model(model.inputs, pool.input)
    return lambda x: pool.attention(features(x, training=False))


def _scores_in_chunks(forward: Forward, codes: np.ndarray, batch_size: int) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int8)
    if len(codes) == 0:
        return np.zeros(0, dtype=np.float32)
    return _in_chunks(forward, codes, batch_size).reshape(-1)


def _attention_in_chunks(forward: Forward, codes: np.ndarray, batch_size: int) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int8)
    if len(codes) == 0:
        return np.zeros((0, codes.shape[1] if codes.ndim == 2 else 0), dtype=np.float32)
    return _in_chunks(forward, codes, batch_size)


def _in_chunks(forward: Forward, codes: np.ndarray, batch_size: int) -> np.ndarray:
    """float32 outputs of `forward` on chunks of at most batch_size rows, concatenated."""
    out = []
    for i in range(0, len(codes), batch_size):
        chunk = codes[i : i + batch_size]
        out.append(forward(_call_rows(chunk)).numpy()[: len(chunk)])
    return np.concatenate(out).astype(np.float32)


def _call_rows(chunk: np.ndarray) -> tf.Tensor:
    """The rows of one model call, a single row doubled (the caller keeps the first).

    A one-row call takes TensorFlow's matrix-vector path, which sums in another order than
    the matrix-matrix path of two rows or more (a linear avGFP model's score moved by up to
    1e-5); from two rows on, a row's score does not depend on what it is batched with. So a
    variant scores the same alone, in a file, or in a server's shared batch."""
    return tf.constant(np.repeat(chunk, 2, axis=0) if len(chunk) == 1 else chunk)
