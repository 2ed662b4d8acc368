"""avGFP variants as protein documents (docs/train.md#avgfp-variants-as-protein-documents):
the protein-set gcn streamed from a database against the variant-table gcn in memory.

Fast: the documents give the shared graph's edges, and with one seed both gcns start as the
same function (same initial weights, same layers: predictions equal to 1e-5). Slow: trained
with the same seed and settings (one batch order), the two give the same losses per epoch and
test Pearsons within 0.01; bench/bench_gfp_documents.py runs that at a larger size."""

from __future__ import annotations

import numpy as np
import pytest

from dmsweep.config import TrainConfig
from dmsweep.data import Split, encoding_table, load_dataset, make_split, residue_graph
from dmsweep.data.protein_batches import GraphSpec, batch_arrays, protein_table
from dmsweep.data.tasks import REGRESSION, Task
from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST
from dmsweep.db.stream import collection_checksum, stream_records
from dmsweep.db.variant_documents import SCORE_LABEL, variant_id, write_variant_collection

GCN = {"model": "gcn", "pooling": "attention", "layers": 2, "filters": 16, "dense_units": 16}


@pytest.fixture(scope="module")
def gfp():
    return load_dataset("avgfp")


def _small_split(gfp, size: int = 24) -> Split:
    """The first `size` rows of each part of the published split (fast tests)."""
    split = make_split(gfp, TrainConfig.from_flat(GCN).data)
    return Split(**{part: rows[:size] for part, rows in split.parts().items()})


def test_documents_carry_each_variant_and_the_shared_graph(gfp, tmp_path):
    split = _small_split(gfp)
    store = open_store(str(tmp_path / "gfp.db"))
    written = write_variant_collection(store, "gfp", gfp, split)
    assert written == sum(split.sizes().values())
    for part, rows in split.parts().items():
        records = list(stream_records(store, "gfp", split=part))
        assert [r.id for r in records] == [variant_id(int(row)) for row in rows]
        first = records[0]
        assert first.labels[SCORE_LABEL] == pytest.approx(float(gfp.scores[rows[0]]))
        assert first.sequence == "".join("ACDEFGHIKLMNPQRSTVWY*"[c] for c in gfp.codes[rows[0]])
    shared = residue_graph(gfp.structure_path(), threshold=7.0)
    assert int(shared.sum()) == 2 * 848  # the README's reference edge count
    for graph, dense in (
        (GraphSpec("distance", threshold=7.0), shared),
        (GraphSpec("knn", k=8), residue_graph(gfp.structure_path(), kind="knn", k=8)),
    ):
        inputs, _ = batch_arrays(records[:3], task=None, graph=graph)
        for row in range(3):
            edges = inputs["edges"][row][inputs["edge_weights"][row] > 0]
            assert np.array_equal(np.unique(edges, axis=0), np.argwhere(dense)), graph


@pytest.mark.db
def test_the_server_holds_the_same_documents_as_sqlite(gfp, tmp_path, mongo_server):
    import uuid

    split = _small_split(gfp, 8)
    name = f"gfp{uuid.uuid4().hex[:8]}"
    stores = [open_store(mongo_server, timeout=10), open_store(str(tmp_path / "gfp.db"))]
    for store in stores:
        assert write_variant_collection(store, name, gfp, split) == 24
    assert collection_checksum(stores[0], name) == collection_checksum(stores[1], name)
    assert stores[0].get_meta(name, META_INGEST) == stores[1].get_meta(name, META_INGEST)
    for store in stores:
        store.close()


def test_one_seed_gives_both_gcns_the_same_function(gfp, tmp_path):
    from dmsweep._tf import keras
    from dmsweep.models import ModelInputs, build_model, predict_scores
    from dmsweep.models.proteins import build_protein_model, protein_probabilities
    from dmsweep.train.job import seed_everything

    config = TrainConfig.from_flat(GCN)
    table = encoding_table(config.data.encoding, card=gfp.card)
    adjacency = residue_graph(gfp.structure_path(), threshold=7.0)
    keras.backend.clear_session()
    seed_everything(3)
    variant = build_model(config.params, ModelInputs(table, 237, adjacency))
    keras.backend.clear_session()
    seed_everything(3)
    protein = build_protein_model(
        config.params, table=protein_table(table), task=Task(REGRESSION, SCORE_LABEL)
    )
    store = open_store(str(tmp_path / "gfp.db"))
    split = _small_split(gfp)
    write_variant_collection(store, "gfp", gfp, split)
    records = list(stream_records(store, "gfp", split="train"))
    rows = split.train
    inputs, _ = batch_arrays(records, task=None, graph=GraphSpec("distance", threshold=7.0))
    from_codes = predict_scores(variant, gfp.codes[rows])
    from_documents = protein_probabilities(protein, inputs, Task(REGRESSION, SCORE_LABEL))
    assert np.std(from_codes) > 1e-4  # variants differ: the check is not vacuous
    assert np.allclose(from_documents, from_codes, atol=1e-5)


def _history(folder) -> np.ndarray:
    """(epochs, 2) train and tune loss per epoch of a job folder's history.csv."""
    return np.loadtxt(folder / "history.csv", delimiter=",", skiprows=1, usecols=(1, 2), ndmin=2)


@pytest.mark.slow
def test_a_streamed_gcn_trains_as_the_in_memory_gcn(gfp, tmp_path, data_dir):
    """The same 3,000 variants, seed and settings, in memory and as documents streamed from
    SQLite: one initial function and one batch order (`dmsweep.data.shuffle`), so the two
    trainings differ only by float summation order (per-protein edges against the shared
    graph's CSR product)."""
    import json

    from test_train_proteins import train

    settings = {**GCN, "graph": "distance", "threshold": 7.0, "dropout": 0.0, "seed": 0}
    settings |= {"batch_size": 32, "learning_rate": 1e-3, "max_epochs": 8, "patience": 8}
    in_memory = {**settings, "split": "random", "max_variants": 3000, "split_seed": 0}
    split = make_split(gfp, TrainConfig.from_flat(in_memory).data)
    db = tmp_path / "gfp.db"
    store = open_store(str(db))
    write_variant_collection(store, "gfp", gfp, split)
    store.close()
    streamed = {**settings, "dataset": {"db": f"sqlite://{db}", "collection": "gfp"}}
    folders = [
        train(config, tmp_path / name, data_dir)
        for name, config in (("memory", in_memory), ("documents", streamed))
    ]
    memory, documents = (_history(folder) for folder in folders)
    print("train and tune loss per epoch, in memory then streamed:", memory, documents)
    assert memory.shape == documents.shape == (8, 2)
    assert np.allclose(documents[0], memory[0], rtol=1e-5)  # one order: the same first epoch
    assert np.allclose(documents, memory, rtol=5e-3)  # then only float summation order drifts
    test = [json.loads((f / "metrics.json").read_text())["splits"]["test"] for f in folders]
    print("test Pearson, in memory then streamed:", [t["pearson"] for t in test])
    assert test[0]["n"] == test[1]["n"] == len(split.test)
    assert test[0]["pearson"] > 0.3  # it learned: the match is not of two near-constants
    assert abs(test[1]["pearson"] - test[0]["pearson"]) < 0.01
