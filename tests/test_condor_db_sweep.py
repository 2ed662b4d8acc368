"""A sweep over a collection on the real MongoDB-protocol test server, through the personal
HTCondor pool: 400 SCL2205 proteins ingested and split, two tiny sequence CNNs (1 epoch)
built with run_builder and submitted; the jobs stream from the server, and aggregate gives
the classification outputs."""

from __future__ import annotations

import csv
import itertools
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pymongo
import pytest
import yaml
from condor_pool import condor_pool  # noqa: F401  (a fixture)

from dmsweep.aggregate.cli import main as aggregate
from dmsweep.data.card import load_protein_set_card
from dmsweep.data.proteins import open_protein_source
from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST, ingest_records
from dmsweep.db.split import split_collection
from dmsweep.errors import DatabaseError
from dmsweep.run_builder.cli import main as run_builder
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.status import run_status

pytestmark = [pytest.mark.condor, pytest.mark.db, pytest.mark.slow]
PROTEINS = 400
SECRET = "s3cret-never-in-the-run-folder"


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


def secantus(port: int, storage: Path, *extra: str) -> subprocess.Popen:
    """The test server (dev extra) on loopback, once it answers."""
    program = Path(sys.executable).parent / "secantusd-py"
    log = open(storage.parent / f"secantus-{port}.log", "ab")  # noqa: SIM115 (the process keeps it)
    server = subprocess.Popen(
        [program, "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage, *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=20_000)
    client.admin.command("hello")
    client.close()
    return server


@pytest.fixture
def login_server(tmp_path):
    """A server that requires a login (SCRAM-SHA-256): (URI naming the user, credentials file)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storage = tmp_path / "secantus"
    storage.mkdir()
    server = secantus(port, storage)
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=5000)
    client.admin.command("createUser", "reader", pwd=SECRET, roles=["root"])
    client.close()
    server.terminate()
    server.wait(timeout=30)
    server = secantus(port, storage, "--auth")
    login = tmp_path / "home" / "db-login.yaml"
    login.parent.mkdir()
    login.write_text(f"username: reader\npassword: {SECRET}\n")
    login.chmod(0o600)
    yield f"mongodb://reader@127.0.0.1:{port}/sets?authSource=admin", login
    server.terminate()
    server.wait(timeout=30)


def run_sweep(
    uri: str,
    collection: str,
    tmp_path: Path,
    submit: list[str],
    before_submit: Callable[[], None] = lambda: None,
) -> Run:
    """Build the two-CNN sweep over the collection, submit it and wait for it."""
    spec = tmp_path / "scl-db.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "scl-db",
                "dataset": {"db": uri, "collection": collection},
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
    before_submit()
    assert run_builder(["submit", str(run.paths.root), "--no-preflight", *submit]) == 0
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
    return run


@pytest.mark.usefixtures("condor_pool")
def test_a_database_sweep_through_the_pool_aggregates(mongo_server, tmp_path):
    collection = f"scl{uuid.uuid4().hex[:8]}"
    ingest_scl_slice(mongo_server, collection)
    run = run_sweep(mongo_server, collection, tmp_path, [])
    assert aggregate([str(run.paths.root), "--no-progress"]) == 0
    summary = run.paths.root / "summary"
    with open(summary / "summary.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2 and all(r["task"] == "multiclass" for r in rows)
    assert all(0 <= float(r["test_accuracy"]) <= 1 for r in rows)
    assert "confusion_cnn.png" in {p.name for p in (summary / "plots").iterdir()}


@pytest.mark.usefixtures("condor_pool")
def test_pool_jobs_log_in_with_the_file_given_at_submit(login_server, tmp_path, monkeypatch):
    """The jobs reach a server that requires a login only through the file transferred with
    them: this process's $DMSWEEP_DB_CREDENTIALS (used to ingest and build) is gone before
    the submit, and no file of the run folder holds the password."""
    uri, login = login_server
    monkeypatch.setenv("DMSWEEP_DB_CREDENTIALS", str(login))
    ingest_scl_slice(uri, "scl")
    monkeypatch.delenv("DMSWEEP_DB_CREDENTIALS")
    with pytest.raises(DatabaseError):  # the server refuses a client without the login
        open_store(uri, timeout=3).count("scl")
    monkeypatch.setenv("DMSWEEP_DB_CREDENTIALS", str(login))
    run = run_sweep(
        uri,
        "scl",
        tmp_path,
        ["--db-credentials", str(login)],
        before_submit=lambda: monkeypatch.delenv("DMSWEEP_DB_CREDENTIALS"),
    )
    assert "db-login" not in (run.paths.root / "sweep.sub").read_text()
    for path in run.paths.root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 10_000_000:
            assert SECRET.encode() not in path.read_bytes(), path
