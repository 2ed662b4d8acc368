"""Each model type learns on a small real avGFP subset: the loss drops over a few steps."""

from __future__ import annotations

import numpy as np
import pytest

from dmsweep._tf import tf
from dmsweep.config import CNNParams, FCParams, GCNParams, LinearParams
from dmsweep.data import encoding_table, load_dataset, residue_graph
from dmsweep.models import MODEL_BUILDERS, ModelInputs, build_model
from dmsweep.train.job import seed_everything

PARAMS = [
    LinearParams(),
    FCParams(layers=2, units=16),
    CNNParams(layers=2, filters=8, kernel_size=5, dense_units=16),
    GCNParams(layers=2, filters=8, dense_units=16),
    GCNParams(layers=1, filters=8, dense_units=16, pooling="attention"),
    GCNParams(layers=1, filters=8, dense_units=16, graph="knn", k=4),
]


@pytest.fixture(scope="module")
def subset(data_dir):
    dataset = load_dataset("avgfp", data_dir=data_dir)
    rows = np.random.default_rng(0).choice(len(dataset), size=256, replace=False)
    table = encoding_table(("one_hot", "aa_index"), data_dir=data_dir)
    graphs = {
        kind: residue_graph(dataset.structure_path(), kind=kind, k=4 if kind == "knn" else None)
        for kind in ("distance", "knn")
    }
    return dataset.codes[rows], dataset.scores[rows], table, graphs


def test_every_model_type_has_a_builder() -> None:
    assert sorted(MODEL_BUILDERS) == ["cnn", "fc", "gcn", "linear", "plm"]


@pytest.mark.slow
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: f"{p.model}-{getattr(p, 'pooling', '')}")
def test_loss_drops(params, subset) -> None:
    codes, scores, table, graphs = subset
    seed_everything(0)
    adjacency = graphs[params.graph] if isinstance(params, GCNParams) else None
    model = build_model(params, ModelInputs(table=table, length=237, adjacency=adjacency))
    model.compile(
        optimizer=tf.keras.optimizers.Adam(1e-3 if params.model == "linear" else 1e-2), loss="mse"
    )
    before = model.evaluate(codes, scores, verbose=0)
    model.fit(codes, scores, batch_size=32, epochs=5, verbose=0, shuffle=False)
    after = model.evaluate(codes, scores, verbose=0)
    assert np.isfinite(after)
    assert after < 0.5 * before, (before, after)
