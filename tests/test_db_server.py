"""Against a real MongoDB wire-protocol server (secantusd-py, tests/conftest.py): ingest the
shared structures and a slice of SCL2205, split, stream back, and compare every document,
count, checksum and split assignment with the embedded SQLite store."""

from __future__ import annotations

import itertools
import uuid

import numpy as np
import pytest

from dmsweep.cli import main
from dmsweep.data.proteins import open_protein_source
from dmsweep.db import open_store
from dmsweep.db.ingest import ingest_records
from dmsweep.db.split import split_collection
from dmsweep.db.stream import collection_checksum, iter_documents, stream_batches

pytestmark = pytest.mark.db
SCL_SLICE = 1500


@pytest.fixture
def both(mongo_server, tmp_path):
    """(server store, SQLite store) and a fresh collection name for this test."""
    server = open_store(mongo_server, timeout=10)
    local = open_store(str(tmp_path / "local.db"))
    yield server, local, f"t{uuid.uuid4().hex[:8]}"
    server.close()
    local.close()


def test_structures_and_scl2205_same_on_both_backends(both, data_dir):
    server, local, name = both
    structures = list(open_protein_source(str(data_dir / "structures")))
    scl = list(itertools.islice(open_protein_source("scl2205"), SCL_SLICE))
    for store in (server, local):
        _, counts = ingest_records(store, name, structures, chunk=2)
        assert counts.inserted == 5
        _, counts = ingest_records(store, name + "_scl", scl, chunk=500)
        assert counts.inserted == SCL_SLICE
        _, again = ingest_records(store, name + "_scl", scl, chunk=500)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, SCL_SLICE)
    assert list(iter_documents(server, name)) == list(iter_documents(local, name))
    assert collection_checksum(server, name) == collection_checksum(local, name)

    splits = [
        split_collection(s, name + "_scl", label="location", fractions=(0.8, 0.1, 0.1), seed=11)
        for s in (server, local)
    ]
    assert splits[0] == splits[1]
    assert server.get_meta(name + "_scl", "split") == local.get_meta(name + "_scl", "split")
    for part in ("train", "tune", "test"):
        assert server.count(name + "_scl", split=part) == local.count(name + "_scl", split=part)
        ids = [
            [
                r.id
                for b in stream_batches(s, name + "_scl", split=part, batch_size=128)
                for r in b.records
            ]
            for s in (server, local)
        ]
        assert ids[0] == ids[1] and ids[0] == sorted(ids[0])
    assert collection_checksum(server, name + "_scl") == collection_checksum(local, name + "_scl")


def test_graph_batches_from_the_server(both, data_dir):
    server, _, name = both
    ingest_records(server, name, open_protein_source(str(data_dir / "structures")))
    batches = list(stream_batches(server, name, split=None, batch_size=2, knn=8))
    assert [len(b.records) for b in batches] == [2, 2, 1]
    gfp = batches[0].records[0]
    assert gfp.id == "avgfp_rosetta_model" and gfp.ca.shape == (237, 3)
    assert len(batches[0].edges[0]) == 2 * 1076  # the kNN edges of the shared avGFP graph
    assert np.isnan(gfp.cb).any(axis=1).sum() == gfp.sequence.count("G")


def test_find_by_id_same_as_sqlite(both, data_dir):
    server, local, name = both
    structures = list(open_protein_source(str(data_dir / "structures")))
    wanted = ["pab1_rosetta_model", "nothing", "avgfp_rosetta_model"]
    for store in (server, local):
        ingest_records(store, name, structures)
    found = [s.find(name, wanted) for s in (server, local)]
    assert found[0] == found[1]
    assert [d["_id"] for d in found[0]] == ["avgfp_rosetta_model", "pab1_rosetta_model"]


def test_cli_against_the_server(mongo_server, data_dir, capsys):
    name = f"cli{uuid.uuid4().hex[:8]}"
    source = str(data_dir / "structures")
    assert main(["db", "ingest", source, "--db", mongo_server, "--collection", name]) == 0
    assert "5 inserted, 0 updated, 0 unchanged; 5 documents in mongodb://" in (
        capsys.readouterr().out
    )
    assert main(["db", "ingest", source, "--db", mongo_server, "--collection", name]) == 0
    assert "0 inserted, 0 updated, 5 unchanged" in capsys.readouterr().out
