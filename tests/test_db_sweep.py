"""run_builder over a database dataset (`dataset: {db: URI, collection: NAME}`): the build
reads the collection's document count and content checksum, records them in the manifest and
in every job's config (job ids follow the content, not the host), `--dry-run` names the
server, an unreachable server or a missing collection is one line, and a job whose
collection changed since the build fails with error.json."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from dmsweep.cli import main as dmsweep
from dmsweep.core.runmanifest import DatabaseRef
from dmsweep.data.source import DataSource
from dmsweep.errors import ConfigError
from dmsweep.run_builder import plan as planning
from dmsweep.run_builder.cli import main as run_builder
from dmsweep.run_builder.plan import plan_file
from dmsweep.run_builder.run import Run

PROTEINS = 40


def ingest_toy(db: str, tmp_path: Path, collection: str = "toy", tail: str = "WKE") -> None:
    """40 short proteins of two classes (ending in `tail`), ingested with their card and
    split 50/25/25."""
    fasta = tmp_path / "toy.fasta"
    fasta.write_text(
        "".join(
            f">P{i:03d} {'xy'[i % 2]}\n{'MKVL' if i % 2 else 'GGSA'}{tail}\n" for i in range(40)
        )
    )
    card = tmp_path / "card.yaml"
    card.write_text(
        f'kind: protein_set\nname: {collection}\nsource: x.fasta\nheader: "{{id}} {{c}}"\n'
        "labels: {c: {classes: [x, y]}}\n"
    )
    ingest = ["db", "ingest", str(fasta), "--card", str(card), "--db", db]
    assert dmsweep(ingest) == 0
    split = ["db", "split", "--db", db, "--collection", collection, "--stratify", "c"]
    assert dmsweep([*split, "--fractions", "0.5,0.25,0.25", "--seed", "1"]) == 0


def write_db_spec(path: Path, db: str, collection: str = "toy") -> Path:
    """Two tiny sequence CNNs (1 epoch) over the collection, one per job."""
    spec = {
        "name": "dbsweep",
        "dataset": {"db": db, "collection": collection},
        "fixed": {"encoding": "one_hot", "max_epochs": 1, "batch_size": 8, "seed": 1},
        "models": {
            "cnn": {
                "fixed": {"filters": 4, "kernel_size": 3, "dense_units": 4, "label": "c"},
                "grid": {"layers": [1, 2]},
            }
        },
        "resources": {"default": {"cpus": 1, "memory_mb": 1024, "disk_mb": 512}},
        "environment": {"strategy": "shared"},
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def queued_configs(run: Run) -> list[dict]:
    return [dict(c) for line in run.queue for c in line.configs]


@pytest.fixture
def toy(tmp_path, capsys):
    db = f"sqlite://{tmp_path}/toy.db"
    ingest_toy(db, tmp_path)
    capsys.readouterr()
    return db


def test_the_build_records_count_and_checksum_in_manifest_and_configs(tmp_path, toy, data_dir):
    spec = write_db_spec(tmp_path / "db.yaml", toy)
    runs = tmp_path / "runs"
    assert (
        run_builder([str(spec), "-o", str(runs), "--name", "r", "--data-dir", str(data_dir)]) == 0
    )
    run = Run.open(runs / "r")
    database = run.manifest.database
    assert isinstance(database, DatabaseRef)
    assert (database.db, database.collection, database.documents) == (
        f"sqlite://{tmp_path}/toy.db",
        "toy",
        PROTEINS,
    )
    assert database.checksum.startswith("sha256:") and len(database.checksum) == 71
    configs = queued_configs(run)
    assert len(configs) == 2
    for config in configs:
        assert config["dataset"] == {"db": toy, "collection": "toy", "checksum": database.checksum}
    assert run.manifest.data == {}  # the documents stay in the database


def test_job_ids_follow_the_content_not_the_host(tmp_path, toy, data_dir):
    moved = tmp_path / "elsewhere" / "copy.db"
    moved.parent.mkdir()
    shutil.copy(tmp_path / "toy.db", moved)
    source = DataSource.resolve(data_dir)
    here = plan_file(write_db_spec(tmp_path / "a.yaml", toy), data=source)
    there = plan_file(write_db_spec(tmp_path / "b.yaml", f"sqlite://{moved}"), data=source)
    assert [t.job_id for t in here.trainings] == [t.job_id for t in there.trainings]
    ingest_toy(toy, tmp_path / "elsewhere", tail="WKD")  # same ids, other sequences
    changed = plan_file(write_db_spec(tmp_path / "a.yaml", toy), data=source)
    assert changed.database.checksum != here.database.checksum
    assert not {t.job_id for t in changed.trainings} & {t.job_id for t in here.trainings}


def test_dry_run_names_the_database_and_writes_nothing(tmp_path, toy, capsys):
    spec = write_db_spec(tmp_path / "db.yaml", toy)
    assert run_builder([str(spec), "-o", str(tmp_path / "runs"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        f"database: sqlite://{tmp_path}/toy.db (a local file), collection 'toy': "
        "40 documents, checksum sha256:"
    ) in out
    assert not (tmp_path / "runs").exists()


def test_a_missing_collection_is_one_line(tmp_path, toy, capsys):
    spec = write_db_spec(tmp_path / "db.yaml", toy, collection="nope")
    assert run_builder([str(spec), "-o", str(tmp_path / "runs"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert (
        f"db.yaml: dataset: sqlite://{tmp_path}/toy.db: collection 'nope': empty or absent" in err
    )


def test_an_unreachable_server_is_one_line_without_secrets(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(planning, "BUILD_TIMEOUT", 0.3)
    monkeypatch.setenv("DMSWEEP_DB_PASSWORD", "hunter2")
    uri = "mongodb://reader@127.0.0.1:9/sets?retryWrites=false"
    spec = write_db_spec(tmp_path / "db.yaml", uri)
    assert run_builder([str(spec), "-o", str(tmp_path / "runs"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hunter2" not in err and "retryWrites" not in err
    assert "dataset: collection 'toy': mongodb://reader@127.0.0.1:9/sets: cannot reach" in err


def test_a_spec_names_no_checksum(tmp_path, toy):
    spec = yaml.safe_load(write_db_spec(tmp_path / "db.yaml", toy).read_text())
    spec["dataset"]["checksum"] = "sha256:" + "0" * 64
    (tmp_path / "db.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"dataset\.checksum: not in a spec"):
        plan_file(tmp_path / "db.yaml", data=DataSource.resolve(None))


@pytest.mark.slow
def test_jobs_read_the_collection_and_refuse_a_changed_one(tmp_path, toy, data_dir, capsys):
    """run-local trains one folder built on the collection as it is, and refuses (error.json)
    the jobs of a folder built before the collection changed."""
    spec = write_db_spec(tmp_path / "db.yaml", toy)
    runs = tmp_path / "runs"
    options = ["-o", str(runs), "--data-dir", str(data_dir)]
    assert run_builder([str(spec), *options, "--name", "before"]) == 0
    (tmp_path / "elsewhere").mkdir()
    ingest_toy(toy, tmp_path / "elsewhere", tail="WKD")  # other sequences under the same ids
    assert run_builder([str(spec), *options, "--name", "after"]) == 0
    capsys.readouterr()
    assert run_builder(["run-local", str(runs / "after"), "-j", "2", "--no-progress"]) == 0
    assert "2 trainings: 2 done" in capsys.readouterr().out
    run_builder(["run-local", str(runs / "before"), "-j", "2", "--no-progress"])
    errors = sorted((runs / "before" / "results").glob("*/error.json"))
    assert len(errors) == 2
    message = json.loads(errors[0].read_text())["message"]
    assert "collection 'toy' has changed since this training was queued" in message


@pytest.mark.db
def test_dry_run_says_which_server_the_jobs_need(mongo_server, tmp_path, capsys):
    collection = f"toy{uuid.uuid4().hex[:8]}"
    ingest_toy(mongo_server, tmp_path, collection=collection)
    spec = write_db_spec(tmp_path / "db.yaml", mongo_server, collection=collection)
    capsys.readouterr()
    assert run_builder([str(spec), "-o", str(tmp_path / "runs"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    shown = mongo_server.split("?")[0]
    assert (
        f"database: {shown} (the jobs connect to the server), collection {collection!r}: "
        "40 documents, checksum sha256:"
    ) in out
