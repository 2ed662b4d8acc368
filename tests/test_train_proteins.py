"""Training on protein sets (docs/train.md): padded batches, per-protein graphs, masking,
attention pooling, the task from the dataset, and real trainings from SQLite, from memory
(a card) and from a real MongoDB-protocol server (marker db)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from dmsweep.config import DatabaseDataset, TrainConfig
from dmsweep.data.graphs import distance_edges, knn_edges, residue_graph
from dmsweep.data.protein_batches import (
    PAD_CODE,
    UNKNOWN_CODE,
    GraphSpec,
    batch_arrays,
    class_weights,
    padded_codes,
    padded_edges,
    protein_table,
)
from dmsweep.data.proteins import ProteinRecord, open_protein_source
from dmsweep.data.tasks import (
    BINARY,
    MULTICLASS,
    REGRESSION,
    check_protein_set_config,
    check_variant_config,
    protein_set_task,
)
from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST, ingest_records
from dmsweep.db.memory import MemoryStore
from dmsweep.db.stream import (
    collection_checksum,
    iter_documents,
    shuffled_records,
    summarise_collection,
)
from dmsweep.errors import ConfigError

SCL_STEP = 19
"""Every 19th SCL2205 protein: 1,004 proteins across the published train/eval/test split."""


# ------------------------------------------------------------------------------ arrays, graphs


def test_padded_codes_and_table():
    codes = padded_codes(["ACX", "MKTAYB"])
    assert codes.shape == (2, 6) and codes.dtype == np.int8
    assert codes[0].tolist() == [0, 1, UNKNOWN_CODE, PAD_CODE, PAD_CODE, PAD_CODE]
    assert codes[1, -1] == UNKNOWN_CODE  # B: not one of the 20
    table = protein_table(np.eye(21, dtype=np.float32))
    assert table.shape == (23, 21)
    assert np.allclose(table[UNKNOWN_CODE, :20], 1 / 20) and table[UNKNOWN_CODE, 20] == 0
    assert not table[PAD_CODE].any()


def test_padded_edges_weigh_by_in_degree():
    one = np.array([[0, 1], [1, 0], [2, 1]], dtype=np.int32)  # residue 1 has two in-edges
    pairs, weights = padded_edges([one, np.zeros((0, 2), np.int32)])
    assert pairs.shape == (2, 3, 2) and weights.shape == (2, 3)
    assert weights[0].tolist() == [0.5, 1.0, 0.5]
    assert not weights[1].any()


def test_per_protein_graphs_match_the_shared_graph_on_avgfp(data_dir):
    """The batch builders (neighbour search) give the shared-graph path's edges (L x L)."""
    structure = data_dir / "structures" / "avgfp_rosetta_model.pdb"
    (record,) = [
        r for r in open_protein_source(str(data_dir / "structures")) if r.id == structure.stem
    ]
    for graph, shared in (
        (GraphSpec("knn", k=8), residue_graph(structure, kind="knn", k=8)),
        (GraphSpec("distance", threshold=7.0), residue_graph(structure, threshold=7.0)),
    ):
        inputs, _ = batch_arrays([record], task=None, graph=graph)
        edges = inputs["edges"][0][inputs["edge_weights"][0] > 0]
        dense = np.zeros_like(shared)
        dense[edges[:, 0], edges[:, 1]] = True
        assert np.array_equal(dense, shared), graph
    ca = record.ca
    assert np.array_equal(knn_edges(ca, 8), np.argwhere(residue_graph(structure, kind="knn", k=8)))
    assert len(distance_edges(ca, 1e-3)) == 0


def test_batch_cut_to_max_length_cuts_the_graph_too(data_dir):
    records = list(open_protein_source(str(data_dir / "structures")))
    inputs, _ = batch_arrays(records, task=None, graph=GraphSpec("knn", k=4), max_length=60)
    assert inputs["codes"].shape == (5, 60)
    assert inputs["edges"].max() < 60


def test_class_weights_balanced():
    weights = class_weights({"a": 6, "b": 3, "c": 1}, ("a", "b", "c", "d"))
    assert weights.tolist() == pytest.approx([10 / 18, 10 / 9, 10 / 3, 0.0])


# --------------------------------------------------------------------------- task and config


def test_task_follows_the_label():
    labels = {"location": ["x", "y", "z"], "membrane": ["M", "S"], "stability": None}
    assert protein_set_task(labels, "location", where="w").kind == MULTICLASS
    assert protein_set_task(labels, "membrane", where="w").kind == BINARY
    assert protein_set_task(labels, "stability", where="w").kind == REGRESSION
    with pytest.raises(ConfigError, match="several labels"):
        protein_set_task(labels, None, where="w")
    with pytest.raises(ConfigError, match="expected one of"):
        protein_set_task(labels, "colour", where="w")
    assert protein_set_task({"only": ["a", "b"]}, None, where="w").label == "only"


def test_protein_set_configs_refuse_what_cannot_train():
    task = protein_set_task({"y": ["a", "b"]}, None, where="w")
    for flat, message in (
        ({"model": "fc"}, "needs one sequence length"),
        ({"model": "gcn"}, "pooling: attention"),
        ({"model": "cnn", "split": "random"}, "split: random"),
        ({"model": "cnn", "kernel_size": 9, "max_residues": 5}, "longer than max_residues"),
        ({"model": "cnn", "precision": "mixed_float16"}, "precision: a protein set trains in"),
    ):
        with pytest.raises(ConfigError, match=message):
            check_protein_set_config(TrainConfig.from_flat(flat), task, where="w")
    for model in ({"model": "cnn"}, {"model": "gcn", "pooling": "attention"}):  # data-parallel
        flat = {**model, "lr_scaling": "linear"}
        check_protein_set_config(TrainConfig.from_flat(flat), task, where="w")
    numeric = protein_set_task({"y": None}, None, where="w")
    with pytest.raises(ConfigError, match="class_weight"):
        check_protein_set_config(
            TrainConfig.from_flat({"model": "cnn", "class_weight": "balanced"}), numeric, where="w"
        )
    for key, value in (("label", "y"), ("max_residues", 100), ("class_weight", "balanced")):
        with pytest.raises(ConfigError, match=key):
            check_variant_config(TrainConfig.from_flat({key: value}), where="w")


def test_database_dataset_job_id_depends_on_content_not_host():
    base = {"model": "cnn", "max_residues": 500}
    on = {
        where: TrainConfig.from_flat(
            {**base, "dataset": {"db": where, "collection": "scl", "checksum": "sha256:ab"}}
        )
        for where in ("sqlite:///tmp/a.db", "mongodb://10.0.0.1:27017/x", "mongodb://h:1/y")
    }
    assert len({c.job_id for c in on.values()}) == 1
    other = TrainConfig.from_flat(
        {**base, "dataset": {"db": "sqlite:///a.db", "collection": "scl", "checksum": "sha256:ac"}}
    )
    assert other.job_id != on["sqlite:///tmp/a.db"].job_id
    flat = on["mongodb://h:1/y"].to_flat()
    assert flat["dataset"] == {
        "db": "mongodb://h:1/y",
        "collection": "scl",
        "checksum": "sha256:ab",
    }
    assert TrainConfig.from_flat(flat).job_id == on["mongodb://h:1/y"].job_id
    assert isinstance(TrainConfig.from_flat(flat).data.dataset, DatabaseDataset)
    with pytest.raises(ConfigError, match="password"):
        TrainConfig.from_flat({**base, "dataset": {"db": "mongodb://u:pw@h/x", "collection": "s"}})
    with pytest.raises(ConfigError, match="collection"):
        TrainConfig.from_flat({**base, "dataset": {"db": "sqlite:///a.db"}})
    none = TrainConfig.from_flat({"model": "cnn", "class_weight": "none"})
    assert none.job_id == TrainConfig.from_flat({"model": "cnn"}).job_id


# ---------------------------------------------------------------------- stores and streaming


def _synthetic(n: int, seed: int = 0) -> list[ProteinRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(20, 80))
        ca = np.cumsum(rng.normal(0, 2.2, (length, 3)), axis=0).astype(np.float32)
        out.append(
            ProteinRecord(
                id=f"S{i:05d}",
                sequence="".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length)),
                labels={"y": "long" if length >= 50 else "short"},
                ca=ca,
                split=("train", "train", "train", "tune", "test")[i % 5],
            )
        )
    return out


def test_memory_store_pages_as_sqlite(tmp_path):
    records = _synthetic(40)
    memory, sqlite = MemoryStore(), open_store(str(tmp_path / "s.db"))
    for store in (memory, sqlite):
        assert ingest_records(store, "c", records, chunk=7)[1].inserted == 40
        assert ingest_records(store, "c", records)[1].unchanged == 40
    assert list(iter_documents(memory, "c", split="tune", page=3)) == list(
        iter_documents(sqlite, "c", split="tune", page=3)
    )
    assert collection_checksum(memory, "c") == collection_checksum(sqlite, "c")
    summary = summarise_collection(sqlite, "c", label="y")
    assert summary.checksum == collection_checksum(sqlite, "c")
    assert summary.split_counts == {"test": 8, "train": 24, "tune": 8}
    assert sum(summary.class_counts["train"].values()) == 24


def test_shuffle_buffer_is_bounded_seeded_and_complete():
    def order(seed: int, buffer: int) -> list[int]:
        return list(
            shuffled_records(iter(range(200)), buffer=buffer, rng=np.random.default_rng(seed))
        )

    assert sorted(order(1, 16)) == list(range(200))
    assert order(1, 16) == order(1, 16) and order(1, 16) != order(2, 16)
    # a buffer of 16: the first record out is one of the first 17 read
    assert all(order(s, 16)[0] <= 16 for s in range(20))


# ------------------------------------------------------------------------------------- models


def _models():
    from dmsweep.data.tasks import Task
    from dmsweep.models.proteins import build_protein_model

    table = protein_table(np.eye(21, dtype=np.float32))
    task = Task(MULTICLASS, "y", ("a", "b", "c"))
    cnn = TrainConfig.from_flat({"model": "cnn", "layers": 2, "filters": 8, "kernel_size": 5})
    gcn = TrainConfig.from_flat(
        {"model": "gcn", "graph": "knn", "k": 6, "pooling": "attention", "filters": 8}
    )
    return (
        build_protein_model(cnn.params, table=table, task=task),
        build_protein_model(gcn.params, table=table, task=task),
        task,
    )


def test_a_prediction_does_not_depend_on_its_batch(data_dir):
    from dmsweep.models.proteins import protein_probabilities

    cnn, gcn, task = _models()
    records = sorted(
        open_protein_source(str(data_dir / "structures")), key=lambda r: len(r.sequence)
    )
    graph = GraphSpec("knn", k=6)
    alone, _ = batch_arrays(records[:1], task=None, graph=graph)
    together, _ = batch_arrays(records, task=None, graph=graph)
    assert together["codes"].shape[1] > alone["codes"].shape[1]  # padded to the longest
    for model in (cnn, gcn):
        single = protein_probabilities(model, alone, task)[0]
        batched = protein_probabilities(model, together, task)[0]
        assert np.allclose(single, batched, atol=1e-5)
        assert np.allclose(protein_probabilities(model, together, task).sum(axis=1), 1.0)


def test_attention_scores_sum_to_one_per_protein(data_dir):
    from dmsweep.models.proteins import protein_attention

    _, gcn, _ = _models()
    records = list(open_protein_source(str(data_dir / "structures")))
    inputs, _ = batch_arrays(records, task=None, graph=GraphSpec("knn", k=6))
    attention = protein_attention(gcn, inputs)
    assert attention.shape == inputs["codes"].shape
    assert np.allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    for row, record in enumerate(records):
        assert not attention[row, len(record.sequence) :].any()  # nothing on padding
        assert (attention[row, : len(record.sequence)] > 0).all()


def test_saved_protein_model_loads_and_predicts_the_same(tmp_path, data_dir):
    from dmsweep.models import load_model, save_model
    from dmsweep.models.proteins import protein_probabilities

    _, gcn, task = _models()
    records = list(open_protein_source(str(data_dir / "structures")))
    inputs, _ = batch_arrays(records, task=None, graph=GraphSpec("knn", k=6))
    save_model(gcn, tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert np.allclose(
        protein_probabilities(loaded, inputs, task), protein_probabilities(gcn, inputs, task)
    )


# ---------------------------------------------------------------------------------- trainings


def scl_subset(store, collection: str, step: int = SCL_STEP) -> int:
    """Every `step`-th SCL2205 protein (its published split) and the card's labels."""
    reading = open_protein_source("scl2205")
    records = list(itertools.islice(reading, 0, None, step))
    ingest_records(store, collection, records)
    labels = {s.name: list(s.classes) for s in reading.card.labels}
    store.put_meta(collection, META_INGEST, {"card": "scl2205", "labels": labels})
    return len(records)


CNN_SCL = {
    "model": "cnn",
    "layers": 2,
    "filters": 32,
    "kernel_size": 9,
    "dense_units": 32,
    "encoding": "one_hot",
    "max_residues": 400,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "max_epochs": 4,
    "patience": 4,
}


def train(config: dict, output: Path, data_dir: Path) -> Path:
    from dmsweep.cli import main

    path = output.parent / f"{output.name}.json"
    path.write_text(json.dumps(config))
    assert main(["train", "--config", str(path), "-o", str(output), "--data-dir", str(data_dir),
                 "--quiet"]) == 0  # fmt: skip
    (folder,) = [p for p in output.iterdir() if not p.name.startswith(".")]
    return folder


def _history(folder: Path) -> list[dict]:
    with open(folder / "history.csv") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_cnn_classifier_trains_on_scl2205_from_sqlite(tmp_path, data_dir):
    db = tmp_path / "scl.db"
    store = open_store(str(db))
    n = scl_subset(store, "scl")
    checksum = collection_checksum(store, "scl")
    store.close()
    folder = train(
        {**CNN_SCL, "dataset": {"db": f"sqlite://{db}", "collection": "scl"}},
        tmp_path / "results",
        data_dir,
    )
    config = json.loads((folder / "config.json").read_text())
    assert config["dataset"]["checksum"] == checksum
    assert (
        folder.name
        == TrainConfig.from_flat({k: v for k, v in config.items() if k != "job_id"}).job_id
    )
    history = _history(folder)
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])  # loss drops
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["task"] == "multiclass" and len(metrics["classes"]) == 13
    test = metrics["splits"]["test"]
    assert sum(metrics["splits"][p]["n"] for p in ("train", "tune", "test")) == n
    assert sum(test["n_per_class"].values()) == test["n"]
    assert np.array(test["confusion_matrix"]).sum() == test["n"]
    assert 0 <= test["accuracy"] <= 1 and test["log_loss"] > 0
    majority = max(test["n_per_class"].values()) / test["n"]
    assert test["accuracy"] >= 0.8 * majority  # learnt something like the frequent classes
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["protein_set"]["checksum"] == checksum
    assert provenance["protein_set"]["db"] == f"sqlite://{db}"
    with open(folder / "predictions.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == test["n"] and rows[0]["predicted_class"] in metrics["classes"]
    from dmsweep.core.results import judge_folder

    verdict = judge_folder(folder)
    assert verdict.status == "ok", verdict.detail
    assert verdict.result.metrics.task == "multiclass"


SHARED_SPLITS = ("train", "train", "tune", "train", "test")
"""The five shared structures in file order: avgfp, bgl3, gb1, pab1, ube4b (the test one)."""
GCN_SHARED = {
    "model": "gcn",
    "graph": "knn",
    "k": 8,
    "pooling": "attention",
    "layers": 2,
    "filters": 16,
    "dense_units": 16,
    "encoding": "one_hot",
    "batch_size": 2,
    "max_epochs": 3,
    "learning_rate": 1e-3,
}


def shared_structures_collection(
    db: Path, structures: Path, *, without_coordinates: tuple[int, ...] = ()
) -> list[ProteinRecord]:
    """The five shared structures as collection `shared` of SQLite file `db`, with a
    synthetic binary label (`size`: long above 200 residues) and SHARED_SPLITS; the records
    at `without_coordinates` (file order) lose their coordinates."""
    store = open_store(str(db))
    shared = zip(open_protein_source(str(structures)), SHARED_SPLITS, strict=True)
    records = [
        ProteinRecord(
            id=record.id,
            sequence=record.sequence,
            labels={"size": "long" if len(record.sequence) > 200 else "short"},
            ca=None if i in without_coordinates else record.ca,
            cb=None if i in without_coordinates else record.cb,
            split=split,
        )
        for i, (record, split) in enumerate(shared)
    ]
    ingest_records(store, "shared", records)
    store.put_meta("shared", META_INGEST, {"labels": {"size": ["short", "long"]}})
    store.close()
    return records


@pytest.mark.slow
def test_gcn_with_attention_trains_on_the_shared_structures(tmp_path, data_dir):
    """Five real structures, a synthetic binary label, per-protein kNN graphs, weighted."""
    db = tmp_path / "structures.db"
    records = shared_structures_collection(db, data_dir / "structures")
    folder = train(
        {
            **GCN_SHARED,
            "class_weight": "balanced",
            "dataset": {"db": f"sqlite://{db}", "collection": "shared"},
        },
        tmp_path / "results",
        data_dir,
    )
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["task"] == "binary" and metrics["classes"] == ["short", "long"]
    assert metrics["epochs_run"] == 3
    provenance = json.loads((folder / "provenance.json").read_text())
    assert set(provenance["class_weights"]) == {"short", "long"}

    from dmsweep.models import load_model
    from dmsweep.models.proteins import protein_attention

    model = load_model(folder / "model" / "model.keras")
    inputs, _ = batch_arrays(records, task=None, graph=GraphSpec("knn", k=8))
    attention = protein_attention(model, inputs)
    assert np.allclose(attention.sum(axis=1), 1.0, atol=1e-5)

    from dmsweep.cli import main

    assert main(["predict", str(folder), "MKTAYIAK"]) == 2  # coordinates needed: one line


@pytest.mark.slow
def test_card_set_trains_through_the_memory_store(tmp_path, data_dir):
    """`dataset: CARD` of a small FASTA set: the same pipeline over a MemoryStore."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(60):
        kind = ("Membrane", "Nucleus")[i % 2]
        motif = "LLLLVVVVIIII" if kind == "Membrane" else "KKKRRRKKKRRR"
        body = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(rng.integers(30, 90))))
        split = ("train", "train", "train", "valid", "test")[i % 5]
        lines += [f">Q{i:05d} {kind}-M {split}", body[:10] + motif + body[10:]]
    (tmp_path / "toy.fasta").write_text("\n".join(lines) + "\n")
    card = tmp_path / "toy.yaml"
    card.write_text(
        "kind: protein_set\nname: toy\nsource: toy.fasta\n"
        "header: '{id} {location}-{membrane} {split}'\n"
        "labels:\n  location: {classes: [Membrane, Nucleus]}\n"
    )
    folder = train(
        {**CNN_SCL, "dataset": str(card), "max_epochs": 3, "learning_rate": 1e-2},
        tmp_path / "results",
        data_dir,
    )
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["task"] == "binary"
    assert metrics["splits"]["train"]["n"] == 36
    assert (folder / "dataset.yaml").is_file()
    history = _history(folder)
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])

    from dmsweep.cli import main

    out = tmp_path / "predicted.csv"
    fasta = tmp_path / "new.fasta"
    fasta.write_text(">a\nMKLLLLVVVVIIIIAC\n>b\nMKKKRRRKKKRRRDE\n")
    assert main(["predict", str(folder), "--file", str(fasta), "-o", str(out)]) == 0
    with open(out) as stream:
        rows = list(csv.DictReader(stream))
    assert [r["id"] for r in rows] == ["a", "b"]
    for row in rows:
        assert row["predicted_class"] in ("Membrane", "Nucleus")
        assert float(row["p_Membrane"]) + float(row["p_Nucleus"]) == pytest.approx(1, abs=1e-5)
    assert main(["predict", str(folder), "MKLLLLVVVV"]) == 0


@pytest.mark.db
@pytest.mark.slow
def test_training_streams_from_the_real_server(mongo_server, tmp_path, data_dir):
    """The same SCL2205 subset on the server and in SQLite: one job id, the same model."""
    import uuid

    collection = f"scl{uuid.uuid4().hex[:8]}"
    server = open_store(mongo_server, timeout=10)
    local = open_store(str(tmp_path / "scl.db"))
    for store in (server, local):
        scl_subset(store, collection, step=4 * SCL_STEP)
    assert collection_checksum(server, collection) == collection_checksum(local, collection)
    server.close()
    local.close()
    config = {**CNN_SCL, "max_epochs": 2}
    folders = [
        train(
            {**config, "dataset": {"db": where, "collection": collection}},
            tmp_path / name,
            data_dir,
        )
        for name, where in (("server", mongo_server), ("sqlite", f"sqlite://{tmp_path}/scl.db"))
    ]
    assert folders[0].name == folders[1].name  # the job id does not depend on the host
    metrics = [json.loads((f / "metrics.json").read_text()) for f in folders]
    for part in ("train", "tune", "test"):
        a, b = (m["splits"][part] for m in metrics)
        assert a["n"] == b["n"] and a["log_loss"] == pytest.approx(b["log_loss"], abs=1e-4)
    provenance = json.loads((folders[0] / "provenance.json").read_text())
    assert provenance["protein_set"]["db"].startswith("mongodb://127.0.0.1")


@pytest.mark.slow
def test_a_bad_record_met_while_training_is_a_data_error(tmp_path, data_dir):
    """A record without coordinates, found by the tf.data generator during fit: exit 2 and an
    error.json naming the record (TensorFlow's wrapper would make it a crash, exit 1)."""
    from dmsweep.cli import main

    db = tmp_path / "bad.db"
    records = shared_structures_collection(db, data_dir / "structures", without_coordinates=(1,))
    config = {
        "model": "gcn",
        "graph": "knn",
        "k": 4,
        "pooling": "attention",
        "layers": 1,
        "filters": 4,
        "dense_units": 4,
        "encoding": "one_hot",
        "batch_size": 8,
        "max_epochs": 1,
        "dataset": {"db": f"sqlite://{db}", "collection": "shared"},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "results"
    args = ["train", "--config", str(path), "-o", str(out), "--data-dir", str(data_dir), "--quiet"]
    assert main(args) == 2
    (folder,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    error = json.loads((folder / "error.json").read_text())
    assert error["type"] == "DataError"
    assert f"record {records[1].id!r}" in error["message"]
