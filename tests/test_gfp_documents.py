"""avGFP variants as protein documents (docs/train.md#avgfp-variants-as-protein-documents):
the protein-set gcn streamed from a database against the variant-table gcn in memory.

Fast: the documents give the shared graph's edges, and with one seed both gcns start as the
same function (same initial weights, same layers: predictions equal to 1e-5). Slow: both
trained for real on a subset with the same seed and settings reach the same test Pearson
(within PEARSON_BOUND; bench/bench_gfp_documents.py prints the numbers)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

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
PEARSON_BOUND = 0.01
"""The issue's bound. Measured at SLOW_BENCH: +0.0032 (seed 0), -0.0074 (seed 1), while two
seeds of one way differ by 0.04 to 0.05 (docs/train.md#avgfp-variants-as-protein-documents)."""
SLOW_BENCH = ("--train-fraction", "0.05", "--epochs", "6")
"""5% of the published training split, 6 epochs: models that have learned something (test
Pearson about 0.45); at 2% and 4 epochs (Pearson 0.15) the difference was 0.018."""


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


def run_bench(tmp_path, data_dir, *arguments: str) -> dict:
    """bench/bench_gfp_documents.py as its user runs it; its JSON result."""
    bench = Path(__file__).parent.parent / "bench" / "bench_gfp_documents.py"
    command = [sys.executable, str(bench), "--json", "--work", str(tmp_path), *arguments]
    done = subprocess.run(
        command,
        env={**os.environ, "DMSWEEP_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        check=True,
    )
    print(done.stdout)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_streamed_gcn_reaches_the_in_memory_gcns_test_pearson(tmp_path, data_dir):
    """The bench at a small size; then predict on a document id gives the training's own
    evaluation of that variant (a regression: the number)."""
    result = run_bench(tmp_path, data_dir, *SLOW_BENCH)
    assert result["shared_edges"] == result["document_edges"] == 2 * 848
    (run,) = result["runs"]
    assert run["in_memory"] > 0.3 and run["streamed"] > 0.3  # both learned something
    assert abs(run["streamed"] - run["in_memory"]) <= PEARSON_BOUND

    from dmsweep.cli import main

    job = Path(run["streamed_job"])
    with open(job / "predictions.csv", newline="") as stream:
        first = next(csv.DictReader(stream))
    dataset = json.loads((job / "config.json").read_text())["dataset"]
    out = tmp_path / "one.csv"
    assert main(["predict", str(job), first["id"], "--db", dataset["db"], "--collection",
                 dataset["collection"], "-o", str(out)]) == 0  # fmt: skip
    with open(out, newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert float(row["predicted_score"]) == pytest.approx(float(first["predicted_score"]), abs=1e-5)
