"""The document store on its embedded SQLite backend: addresses and credentials, idempotent
upserts, keyset paging, stratified splits, streaming with graphs, and `dmsweep db`."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dmsweep.cli import main
from dmsweep.core.dbaddress import Credentials, read_credentials_file, resolve_credentials
from dmsweep.data.proteins import ProteinRecord, open_protein_source
from dmsweep.db import open_store, parse_address, redact
from dmsweep.db.documents import document_to_record, record_to_document
from dmsweep.db.ingest import ingest_records
from dmsweep.db.split import parse_fractions, split_collection, stratified_assignment
from dmsweep.db.stream import collection_checksum, iter_documents, stream_batches
from dmsweep.errors import ConfigError, DatabaseError

CLASSES = ("a", "b", "c")


def synthetic(n: int, *, coordinates: bool = False, seed: int = 0) -> list[ProteinRecord]:
    """n proteins of 20-60 residues, classes a:b:c = 6:3:1, C-alpha on a random walk."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(20, 60))
        ca = np.cumsum(rng.normal(0, 2.2, (length, 3)), axis=0).astype(np.float32)
        cb = ca + 1.0
        cb[0] = np.nan  # a glycine
        out.append(
            ProteinRecord(
                id=f"P{i:06d}",
                sequence="".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length)),
                labels={"kind": CLASSES[0 if i % 10 < 6 else 1 if i % 10 < 9 else 2]},
                ca=ca if coordinates else None,
                cb=cb if coordinates else None,
            )
        )
    return out


@pytest.fixture
def store(tmp_path):
    opened = open_store(f"sqlite://{tmp_path}/store.db")
    yield opened
    opened.close()


# ----------------------------------------------------------------------------------- addresses


def test_address_forms():
    assert parse_address("sqlite:///data/s.db").path == Path("/data/s.db")
    assert parse_address("sqlite:////data/s.db").path == Path("/data/s.db")
    assert parse_address("rel/s.db").kind == "sqlite"
    mongo = parse_address("mongodb://reader@db.example:27017/sets?tls=true&retryWrites=false")
    assert (mongo.kind, mongo.database, mongo.username) == ("mongodb", "sets", "reader")
    assert mongo.display == "mongodb://reader@db.example:27017/sets"
    assert parse_address("mongodb://h:1").database == "dmsweep"


def test_a_password_in_the_uri_is_refused_and_never_shown():
    with pytest.raises(DatabaseError, match=r"password in the URI is refused") as caught:
        parse_address("mongodb://me:hunter2@h:27017/db?tls=true")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(DatabaseError, match="option tlsCertificateKeyFilePassword is a secret"):
        parse_address("mongodb://h/db?tlsCertificateKeyFilePassword=x2")
    assert redact("mongodb://me:hunter2@h:1/db?tlsCAFile=x") == "mongodb://me:***@h:1/db?***"
    with pytest.raises(DatabaseError, match=r"postgres://u:\*\*\*@h/db: expected sqlite"):
        parse_address("postgres://u:pw@h/db")


def test_credentials_file_must_be_private(tmp_path, monkeypatch):
    path = tmp_path / "login.yaml"
    path.write_text("username: reader\npassword: s3cret\n")
    path.chmod(0o644)
    with pytest.raises(DatabaseError, match=r"readable by others .* chmod 600") as caught:
        read_credentials_file(path)
    assert "s3cret" not in str(caught.value)
    path.chmod(0o600)
    login = read_credentials_file(path)
    assert login == Credentials("reader", "s3cret") and "s3cret" not in repr(login)
    address = parse_address("mongodb://h/db")
    monkeypatch.setenv("DMSWEEP_DB_CREDENTIALS", str(path))
    assert resolve_credentials(address) == login
    monkeypatch.delenv("DMSWEEP_DB_CREDENTIALS")
    monkeypatch.setenv("DMSWEEP_DB_PASSWORD", "pw")
    with pytest.raises(DatabaseError, match="DMSWEEP_DB_PASSWORD is set but no user"):
        resolve_credentials(address)
    assert resolve_credentials(parse_address("mongodb://u@h/db")) == Credentials("u", "pw")
    assert resolve_credentials(parse_address("s.db")) is None


# ------------------------------------------------------------------------------------ documents


def test_document_round_trip_keeps_nan_as_null():
    record = synthetic(1, coordinates=True)[0]
    document = record_to_document(record)
    assert document["cb"][0] == [None, None, None] and "split" not in document
    back = document_to_record(document)
    assert back.id == record.id and back.sequence == record.sequence
    assert np.allclose(back.ca, record.ca, atol=5e-4)
    assert np.isnan(back.cb[0]).all() and not np.isnan(back.cb[1:]).any()


def test_upsert_is_idempotent_by_id_and_keeps_an_assigned_split(store):
    records = synthetic(50)
    read, counts = ingest_records(store, "s", records, chunk=7)
    assert (read, counts.inserted, counts.updated) == (50, 50, 0)
    _, again = ingest_records(store, "s", records, chunk=7)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 50)
    store.set_split("s", ["P000001"], "test")
    _, third = ingest_records(store, "s", records[:2])
    assert third.unchanged == 2 and store.count("s", split="test") == 1
    changed = ProteinRecord(id="P000001", sequence="MK", labels={"kind": "a"})
    assert store.upsert("s", [record_to_document(changed)]).updated == 1
    assert store.count("s") == 50


def test_keyset_paging_sees_every_document_once_in_order(store):
    ingest_records(store, "s", synthetic(103))
    seen = [doc["_id"] for doc in iter_documents(store, "s", page=10)]
    assert seen == sorted(seen) and len(set(seen)) == 103
    assert store.page("s", split=None, after="P000100", limit=10)[0]["_id"] == "P000101"


def test_find_reads_documents_by_id_on_sqlite_and_in_memory(store):
    from dmsweep.db.memory import MemoryStore

    records = synthetic(30, coordinates=True)
    for backend in (store, MemoryStore()):
        ingest_records(backend, "s", records)
        found = backend.find("s", ["P000020", "P000003", "P999999", "P000003"])
        assert [doc["_id"] for doc in found] == ["P000003", "P000020"]  # _id order, no repeat
        assert document_to_record(found[1]).sequence == records[20].sequence
        assert backend.find("absent", ["P000001"]) == []


class CountingStore:
    """A store wrapper that records the page sizes asked for (O(batch) streaming)."""

    def __init__(self, inner):
        self.inner, self.address, self.limits = inner, inner.address, []

    def page(self, collection, *, split, after, limit):
        self.limits.append(limit)
        return self.inner.page(collection, split=split, after=after, limit=limit)


def test_streaming_reads_one_batch_at_a_time_with_graphs(store):
    ingest_records(store, "s", synthetic(45, coordinates=True))
    split_collection(store, "s", label="kind", fractions=(0.8, 0.1, 0.1), seed=1)
    counting = CountingStore(store)
    batches = list(stream_batches(counting, "s", split="train", batch_size=8, knn=4))
    assert set(counting.limits) == {8}
    assert [len(b.records) for b in batches] == [8, 8, 8, 8, 4]
    assert all(r.split == "train" for b in batches for r in b.records)
    edges = batches[0].edges[0]
    assert edges.dtype == np.int32 and np.bincount(edges[:, 0]).min() >= 4
    coords, mask = batches[0].padded_ca()
    assert coords.shape == (8, batches[0].lengths.max(), 3)
    assert (mask.sum(axis=1) == batches[0].lengths).all()


# --------------------------------------------------------------------------------------- splits


def test_stratified_assignment_holds_per_class_and_is_reproducible():
    pairs = [(r.id, r.labels["kind"]) for r in synthetic(1000)]
    first = stratified_assignment(pairs, fractions=(0.8, 0.1, 0.1), seed=7)
    assert first == stratified_assignment(list(reversed(pairs)), fractions=(0.8, 0.1, 0.1), seed=7)
    assert first != stratified_assignment(pairs, fractions=(0.8, 0.1, 0.1), seed=8)
    per_class = Counter((value, first[doc_id]) for doc_id, value in pairs)
    for value, n in Counter(v for _, v in pairs).items():
        for part, fraction in zip(("train", "tune", "test"), (0.8, 0.1, 0.1), strict=True):
            assert abs(per_class[value, part] - fraction * n) <= 1


def test_split_is_written_back_and_recorded(store):
    ingest_records(store, "s", synthetic(200))
    record = split_collection(store, "s", label="kind", fractions=(0.7, 0.2, 0.1), seed=3)
    assert [store.count("s", split=p) for p in ("train", "tune", "test")] == [140, 40, 20]
    meta = store.get_meta("s", "split")
    assert meta["seed"] == 3 and meta["checksum"] == record.checksum
    assert meta["fractions"] == [0.7, 0.2, 0.1] and meta["counts"]["test"] == {
        "a": 12,
        "b": 6,
        "c": 2,
    }
    before = collection_checksum(store, "s")
    split_collection(store, "s", label="kind", fractions=(0.7, 0.2, 0.1), seed=3)
    assert collection_checksum(store, "s") == before


def test_fractions_and_labels_are_checked(store):
    assert parse_fractions("0.8,0.1,0.1") == (0.8, 0.1, 0.1)
    for bad in ("0.8,0.1", "0.5,0.5,0.5", "a,b,c", "1.1,-0.1,0"):
        with pytest.raises(ConfigError, match="expected three fractions"):
            parse_fractions(bad)
    ingest_records(store, "s", synthetic(3))
    with pytest.raises(Exception, match=r"document 'P000000': no class label 'location'"):
        split_collection(store, "s", label="location", fractions=(0.8, 0.1, 0.1), seed=0)


# ------------------------------------------------------------------------------------------ CLI


def test_cli_ingest_and_split(tmp_path, capsys, data_dir):
    db = f"sqlite://{tmp_path}/cli.db"
    source = str(data_dir / "structures")
    assert main(["db", "ingest", source, "--db", db, "--collection", "pdb"]) == 0
    out = capsys.readouterr().out
    assert "pdb: 5 records read, 0 skipped; 5 inserted, 0 updated, 0 unchanged; 5 documents" in out
    assert main(["db", "ingest", source, "--db", db, "--collection", "pdb"]) == 0
    assert "0 inserted, 0 updated, 5 unchanged" in capsys.readouterr().out
    fasta = tmp_path / "set.fasta"
    fasta.write_text("".join(f">P{i} {'xy'[i % 2]}\nMKV\n" for i in range(40)))
    card = tmp_path / "card.yaml"
    card.write_text(
        'kind: protein_set\nname: toy\nsource: x.fasta\nheader: "{id} {c}"\n'
        "labels: {c: {classes: [x, y]}}\n"
    )
    assert main(["db", "ingest", str(fasta), "--card", str(card), "--db", db]) == 0
    assert "toy: 40 records read" in capsys.readouterr().out
    args = ["db", "split", "--db", db, "--collection", "toy", "--stratify", "c"]
    assert main([*args, "--fractions", "0.5,0.25,0.25", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "train: 20 proteins in 2 classes" in out and "seed 1: sha256:" in out


def test_cli_unreachable_server_is_one_line_without_the_password(capsys, monkeypatch):
    monkeypatch.setenv("DMSWEEP_DB_PASSWORD", "hunter2")
    uri = "mongodb://reader@127.0.0.1:9/sets?retryWrites=false"
    code = main(
        ["db", "split", "--db", uri, "--collection", "x", "--stratify", "c", "--timeout", "0.3"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "mongodb://reader@127.0.0.1:9/sets: cannot reach the server within 0.3 s" in err
    assert "hunter2" not in err


def test_cli_bad_record_is_one_line(tmp_path, capsys):
    fasta = tmp_path / "bad.fasta"
    fasta.write_text(">A\nMKV\n>B\nMK1\n")
    assert main(["db", "ingest", str(fasta), "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.fasta, line 3: record 'B': unknown residue '1'" in err


def test_scl2205_slice_streams_back_unchanged(tmp_path):
    reading = open_protein_source("scl2205")
    head = [record for record, _ in zip(reading, range(300), strict=False)]
    store = open_store(str(tmp_path / "scl.db"))
    ingest_records(store, "scl", head)
    back = [r for b in stream_batches(store, "scl", split=None, batch_size=64) for r in b.records]
    assert [(r.id, r.sequence, r.labels, r.split) for r in back] == sorted(
        (r.id, r.sequence, r.labels, r.split) for r in head
    )
    store.close()
    assert os.path.getsize(tmp_path / "scl.db") > 0


def test_not_a_database_file_is_one_line(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not sqlite " * 200)
    with pytest.raises(DatabaseError, match=r"notes.db: cannot open the database: file is not a"):
        open_store(str(path))
