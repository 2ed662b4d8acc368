"""A sweep over a collection on the real MongoDB-protocol test server, through the personal
HTCondor pool: 400 SCL2205 proteins ingested and split, two tiny sequence CNNs (1 epoch)
built with run_builder and submitted; the jobs stream from the server, and aggregate gives
the classification outputs."""

from __future__ import annotations

import csv
import itertools
import json
import time
import uuid

import pytest
import yaml
from condor_pool import condor_pool  # noqa: F401  (a fixture)

from dmsweep.aggregate.cli import main as aggregate
from dmsweep.data.card import load_protein_set_card
from dmsweep.data.proteins import open_protein_source
from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST, ingest_records
from dmsweep.db.split import split_collection
from dmsweep.run_builder.cli import main as run_builder
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.status import run_status
from dmsweep.run_builder.submit import submit_run

pytestmark = [pytest.mark.condor, pytest.mark.db, pytest.mark.slow]
PROTEINS = 400


def ingest_scl_slice(uri: str, collection: str) -> None:
    """The first PROTEINS SCL2205 proteins, with the card's labels, split 60/20/20 by class."""
    store = open_store(uri, timeout=10)
    try:
        ingest_records(
            store, collection, itertools.islice(open_protein_source("scl2205"), PROTEINS)
        )
        card = load_protein_set_card("scl2205")
        labels = {s.name: None if s.classes is None else list(s.classes) for s in card.labels}
        store.put_meta(collection, META_INGEST, {"card": card.name, "labels": labels})
        split_collection(store, collection, label="location", fractions=(0.6, 0.2, 0.2), seed=1)
    finally:
        store.close()


@pytest.mark.usefixtures("condor_pool")
def test_a_database_sweep_through_the_pool_aggregates(mongo_server, tmp_path, capsys):
    collection = f"scl{uuid.uuid4().hex[:8]}"
    ingest_scl_slice(mongo_server, collection)
    spec = tmp_path / "scl-db.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "scl-db",
                "dataset": {"db": mongo_server, "collection": collection},
                "fixed": {
                    "encoding": "one_hot",
                    "max_residues": 200,
                    "max_epochs": 1,
                    "batch_size": 32,
                    "seed": 1,
                },
                "models": {
                    "cnn": {
                        "fixed": {"filters": 8, "kernel_size": 5, "dense_units": 8},
                        "grid": {"layers": [1, 2]},
                    }
                },
                "resources": {"default": {"cpus": 1, "memory_mb": 2048, "disk_mb": 1024}},
                "trainings_per_job": 2,
                "environment": {"strategy": "shared"},
            }
        )
    )
    runs = tmp_path / "runs"
    assert run_builder([str(spec), "-o", str(runs), "--name", "pool"]) == 0
    run = Run.open(runs / "pool")
    assert run.manifest.database.documents == PROTEINS
    submit_run(run, preflight=False)
    deadline = time.monotonic() + 300
    while not (status := run_status(run)).finished:
        assert time.monotonic() < deadline, status.counts()
        time.sleep(2)
    assert status.counts()["done"] == 2, status.counts()
    for job_id in run.batch_of:
        provenance = json.loads((run.paths.results / job_id / "provenance.json").read_text())
        assert provenance["protein_set"]["kind"] == "database"
        assert provenance["protein_set"]["collection"] == collection
        assert provenance["protein_set"]["checksum"] == run.manifest.database.checksum
    assert aggregate([str(run.paths.root), "--no-progress"]) == 0
    summary = run.paths.root / "summary"
    with open(summary / "summary.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2 and all(r["task"] == "multiclass" for r in rows)
    assert all(0 <= float(r["test_accuracy"]) <= 1 for r in rows)
    assert "confusion_cnn.png" in {p.name for p in (summary / "plots").iterdir()}
