"""The model layers compute what the papers define, and every model type saves and loads."""

from __future__ import annotations

import numpy as np
import pytest

from dmsweep._tf import tf
from dmsweep.config import CNNParams, FCParams, GCNParams, LinearParams
from dmsweep.data import ALPHABET, encoding_table, load_dataset, residue_graph
from dmsweep.errors import TrainingError
from dmsweep.models import (
    AttentionPool,
    BatchMajor,
    EncodedGraphConv,
    EncodingLookup,
    ModelInputs,
    SharedGraphConv,
    attention_scores,
    build_model,
    compiled_attention,
    compiled_scores,
    load_model,
    neighbour_average,
    predict_scores,
    save_model,
)
from dmsweep.train.job import adam, seed_everything

SMALL = {
    "linear": LinearParams(),
    "fc": FCParams(layers=2, units=8),
    "cnn": CNNParams(layers=2, filters=4, kernel_size=3, dense_units=8),
    "gcn": GCNParams(layers=2, filters=4, dense_units=8),
    "gcn_attention": GCNParams(layers=1, filters=4, dense_units=8, pooling="attention"),
    "gcn_wide": GCNParams(layers=2, filters=64, dense_units=8),  # wider than the encoding
}


@pytest.fixture(scope="module")
def avgfp(data_dir):
    dataset = load_dataset("avgfp", data_dir=data_dir)
    table = encoding_table(("one_hot", "aa_index"), data_dir=data_dir)
    graph = residue_graph(dataset.structure_path(), n_residues=237)
    inputs = ModelInputs(table=table, length=237, adjacency=graph)
    return dataset, inputs


def test_encoding_lookup_returns_table_rows() -> None:
    table = np.arange(21 * 3, dtype=np.float32).reshape(21, 3)
    layer = EncodingLookup(21, 3, table=table)
    codes = np.array([[0, 20, 5]], dtype=np.int8)
    out = layer(tf.constant(codes)).numpy()
    assert out.shape == (1, 3, 3)
    np.testing.assert_array_equal(out[0], table[[0, 20, 5]])
    assert layer.trainable_weights == []


def test_one_hot_aaindex_lookup_known_values(avgfp) -> None:
    _, inputs = avgfp
    layer = EncodingLookup(21, 40, table=inputs.table)
    code_a, code_stop = ALPHABET.index("A"), ALPHABET.index("*")
    out = layer(tf.constant([[code_a, code_stop]], dtype=tf.int8)).numpy()[0]
    assert out[0, code_a] == 1.0 and out[0, :21].sum() == 1.0
    assert out[1, 20] == 1.0 and not out[1, 21:].any()  # stop: one-hot only, no AAindex


def small_graph() -> np.ndarray:
    adjacency = np.zeros((5, 5), dtype=bool)
    for i, j in [(0, 1), (1, 2), (2, 3), (0, 2)]:  # node 4 is isolated
        adjacency[i, j] = adjacency[j, i] = True
    return adjacency


def node_average_reference(x, adjacency, w_self, w_nbr, bias):
    """nn4dms node_average_gc (before the activation), batch-major x (batch, L, F)."""
    degree = np.maximum(1, adjacency.sum(axis=1, keepdims=True))
    return x @ w_self + (adjacency / degree) @ (x @ w_nbr) + bias


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("features", [2, 4])  # narrower and wider than the output
def test_shared_graph_conv_is_the_published_node_average_layer(sparse, features) -> None:
    rng = np.random.default_rng(0)
    adjacency = small_graph()
    layer = SharedGraphConv(3, 5, adjacency=neighbour_average(adjacency), sparse=sparse)
    x = rng.normal(size=(2, 5, features)).astype(np.float32)
    node_major = tf.constant(x.transpose(1, 0, 2))
    layer(node_major)
    w_nbr, w_self = layer.kernel_1.numpy(), layer.kernel_2.numpy()
    assert not np.allclose(w_nbr, w_self)  # independent initial weights
    layer.bias.assign(rng.normal(size=3).astype(np.float32))
    out = layer(node_major).numpy().transpose(1, 0, 2)
    expected = node_average_reference(x, adjacency, w_self, w_nbr, layer.bias.numpy())
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert [w.name.split("/")[-1] for w in layer.non_trainable_weights] == ["adjacency:0"]


def test_encoded_graph_conv_equals_lookup_then_conv() -> None:
    rng = np.random.default_rng(1)
    adjacency = small_graph()
    table = rng.normal(size=(21, 6)).astype(np.float32)
    codes = rng.integers(0, 21, size=(3, 5)).astype(np.int8)
    layer = EncodedGraphConv(4, 5, 21, 6, adjacency=neighbour_average(adjacency), table=table)
    layer(tf.constant(codes))
    layer.bias.assign(rng.normal(size=4).astype(np.float32))
    out = BatchMajor()(layer(tf.constant(codes))).numpy()
    w_nbr, w_self = layer.kernel_1.numpy(), layer.kernel_2.numpy()
    expected = node_average_reference(table[codes], adjacency, w_self, w_nbr, layer.bias.numpy())
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert {w.name.split("/")[-1] for w in layer.non_trainable_weights} == {
        "table:0",
        "adjacency:0",
    }


class PublishedEncodedGraphConv(EncodedGraphConv):
    """The first graph conv written as the published formula, one term at a time:
    `(table W_2)[codes] + A_hat (table W_1)[codes] + b` (the code before the fused kernels)."""

    def call(self, inputs, mask=None):
        codes = tf.transpose(tf.cast(inputs, tf.int32))
        own = tf.gather(tf.matmul(self.table, self.kernel_2), codes)
        neighbours = self.aggregate(tf.gather(tf.matmul(self.table, self.kernel_1), codes))
        return self._finish(own + neighbours)


class PublishedSharedGraphConv(SharedGraphConv):
    """A further graph conv as `x W_2 + A_hat (x W_1) + b`, two separate matmuls."""

    def call(self, inputs, mask=None):
        rows = tf.reshape(inputs, (-1, inputs.shape[-1]))
        shape = tf.concat([tf.shape(inputs)[:-1], [self.channels]], axis=0)
        own = tf.reshape(tf.matmul(rows, self.kernel_2), shape)
        neighbours = self.aggregate(tf.reshape(tf.matmul(rows, self.kernel_1), shape))
        return self._finish(own + neighbours)


PUBLISHED_FORMULA = {
    EncodedGraphConv: PublishedEncodedGraphConv,
    SharedGraphConv: PublishedSharedGraphConv,
}


def _trained_gcn(inputs, codes, scores, *, as_formula: bool):
    """A GCN (64 filters: the 40-wide encoding is averaged before its kernel in conv1, conv2's
    kernels are one matmul) trained 12 Adam steps from seed 3, with the layers as they are or
    as the published formula."""
    seed_everything(3)
    model = build_model(GCNParams(layers=2, filters=64, dense_units=8), inputs)
    if as_formula:
        for layer in model.layers:
            layer.__class__ = PUBLISHED_FORMULA.get(type(layer), type(layer))
    model.compile(optimizer=adam(1e-3), loss="mse")
    model.fit(codes, scores, batch_size=32, epochs=1, shuffle=False, verbose=0)
    return model


def test_fused_graph_convs_train_as_the_published_formula(avgfp) -> None:
    """The fused kernels and the narrow graph product of conv1 are the same model: from one
    seed, 12 training steps on real avGFP variants give the same weights and predictions
    (within 1e-5) as the formula computed term by term."""
    dataset, inputs = avgfp
    codes, scores = dataset.codes[:384], dataset.scores[:384]
    fused = _trained_gcn(inputs, codes, scores, as_formula=False)
    formula = _trained_gcn(inputs, codes, scores, as_formula=True)
    assert type(formula.get_layer("graphconv1")) is PublishedEncodedGraphConv
    seed_everything(3)
    initial = build_model(GCNParams(layers=2, filters=64, dense_units=8), inputs)
    moved = [
        np.abs(w - w0).max()
        for w, w0 in zip(fused.get_weights(), initial.get_weights(), strict=True)
    ]
    assert max(moved) > 1e-3  # the steps changed the weights
    for got, expected in zip(fused.get_weights(), formula.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        predict_scores(fused, dataset.codes[-200:]),
        predict_scores(formula, dataset.codes[-200:]),
        rtol=0,
        atol=1e-5,
    )


def test_attention_pool_weights_sum_to_one() -> None:
    x = tf.random.stateless_normal((3, 7, 4), seed=(1, 2))
    pool = AttentionPool()
    pooled = pool(x).numpy()
    weights = pool.attention(x).numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(pooled, np.einsum("bl,blf->bf", weights, x.numpy()), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_saved_model_loads_and_predicts_the_same(name, avgfp, tmp_path) -> None:
    dataset, inputs = avgfp
    model = build_model(SMALL[name], inputs)
    codes = dataset.codes[:50]
    before = predict_scores(model, codes)
    assert before.shape == (50,)
    save_model(model, tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(predict_scores(loaded, codes), before, rtol=1e-6, atol=1e-6)
    if name == "gcn_attention":
        scores = attention_scores(loaded, codes)
        assert scores.shape == (50, 237)
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(scores, attention_scores(model, codes), rtol=1e-6)
    if name.startswith("gcn"):
        adjacencies = [w.numpy() for w in loaded.weights if "adjacency" in w.name]
        assert len(adjacencies) == SMALL[name].layers
        for adjacency in adjacencies:
            np.testing.assert_array_equal(adjacency, neighbour_average(inputs.adjacency))


def test_published_gcn_size(avgfp) -> None:
    _, inputs = avgfp
    model = build_model(GCNParams(), inputs)  # 2 x 128 filters, dense 100
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    graph = 2 * 40 * 128 + 128 + 2 * 128 * 128 + 128
    head = 237 * 128 * 100 + 100 + 100 + 1
    assert trainable == graph + head


def test_cnn_too_deep_for_the_sequence(avgfp) -> None:
    _, inputs = avgfp
    with pytest.raises(TrainingError, match="do not fit a sequence of length 237"):
        build_model(CNNParams(layers=10, kernel_size=25), inputs)


def test_gcn_needs_a_graph(avgfp) -> None:
    _, inputs = avgfp
    with pytest.raises(TrainingError, match="residue graph"):
        build_model(GCNParams(), ModelInputs(table=inputs.table, length=237))


def test_attention_scores_refuses_other_models(avgfp) -> None:
    dataset, inputs = avgfp
    model = build_model(SMALL["gcn"], inputs)
    with pytest.raises(Exception, match="no attention pooling"):
        attention_scores(model, dataset.codes[:2])


@pytest.mark.parametrize("name", ["linear", "gcn_attention", "gcn_wide"])
def test_a_variant_scores_the_same_alone_and_in_any_batch(name, avgfp) -> None:
    """A one-row call would take TensorFlow's matrix-vector path (another summation order:
    up to 1e-5 on a linear model); `dmsweep predict` of one variant and a server's shared
    batches must give the score `dmsweep predict` gives it among others."""
    dataset, inputs = avgfp
    model = build_model(SMALL[name], inputs)
    codes = dataset.codes[:9]
    alone = np.array([predict_scores(model, codes[i : i + 1])[0] for i in range(9)])
    for batch_size in (2, 4, 9):
        np.testing.assert_array_equal(predict_scores(model, codes, batch_size=batch_size), alone)
    if name == "gcn_attention":
        np.testing.assert_array_equal(
            attention_scores(model, codes[:1])[0], attention_scores(model, codes)[0]
        )


@pytest.mark.parametrize("name", ["linear", "gcn_attention"])
def test_the_compiled_predictors_score_as_predict(name, avgfp) -> None:
    """What `dmsweep serve` calls: traced once, the same scores within 1e-6, and a variant
    alone scores as in a batch."""
    dataset, inputs = avgfp
    model = build_model(SMALL[name], inputs)
    codes = dataset.codes[:9]
    scores = compiled_scores(model, 237)
    np.testing.assert_allclose(scores(codes), predict_scores(model, codes), rtol=0, atol=1e-6)
    alone = np.array([scores(codes[i : i + 1])[0] for i in range(9)])
    np.testing.assert_array_equal(scores(codes, batch_size=4), alone)
    assert scores(codes[:0]).shape == (0,)
    if name == "gcn_attention":
        attention = compiled_attention(model, 237)
        expected = attention_scores(model, codes)
        np.testing.assert_allclose(attention(codes), expected, rtol=0, atol=1e-6)
        assert attention(codes[:0]).shape == (0, 237)
