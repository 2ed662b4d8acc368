"""O(batch) memory, end to end: a collection larger than a memory cap still trains.

The cap is the peak RSS of the same `dmsweep train` on a smaller collection plus a margin that
the larger collection's extra documents exceed several times over: a training that held the
collection (its documents, or its parsed records with their coordinates) would pass the cap;
one that streams it does not. The smaller collection already fills the shuffle buffer
(`db.stream.SHUFFLE_BUFFER` proteins, the bounded part of O(batch + buffer)), so the two differ
only in what streaming must not keep. Peak RSS is the child's own (`os.wait4`), in a fresh
process each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dmsweep.data.proteins import ProteinRecord
from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST, ingest_records
from dmsweep.db.stream import SHUFFLE_BUFFER

RESIDUES = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
SPLITS = ("train",) * 8 + ("tune", "test")
MARGIN_MB = 40
"""How far above the smaller collection's peak the larger one may go."""


def synthetic(n: int, length: int = 400) -> Iterator[ProteinRecord]:
    """n proteins of `length` residues with C-alpha coordinates, a binary label."""
    rng = np.random.default_rng(n)
    for i in range(n):
        yield ProteinRecord(
            id=f"P{i:06d}",
            sequence="".join(rng.choice(RESIDUES, length)),
            labels={"class": "ab"[i % 2]},
            ca=np.cumsum(rng.normal(0, 2.2, (length, 3)), axis=0).astype(np.float32),
            split=SPLITS[i % 10],
        )


def collection(db: Path, n: int) -> float:
    """The SQLite file of n proteins; its size in MB."""
    store = open_store(str(db))
    ingest_records(store, "p", synthetic(n), chunk=500)
    store.put_meta("p", META_INGEST, {"labels": {"class": ["a", "b"]}})
    store.close()
    return db.stat().st_size / 2**20


def peak_rss_mb(db: Path, folder: Path) -> float:
    config = {
        "model": "cnn",
        "layers": 1,
        "filters": 8,
        "kernel_size": 5,
        "dense_units": 8,
        "encoding": "one_hot",
        "batch_size": 64,
        "max_epochs": 1,
        "dataset": {"db": f"sqlite://{db}", "collection": "p"},
    }
    folder.mkdir()
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    program = Path(sys.executable).parent / "dmsweep"
    command = [str(program), "train", "--config", str(path), "-o", str(folder / "out")]
    child = subprocess.Popen([*command, "--threads", "1", "--quiet"], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, command
    (job,) = [p for p in (folder / "out").iterdir() if not p.name.startswith(".")]
    assert json.loads((job / "metrics.json").read_text())["epochs_run"] == 1
    return usage.ru_maxrss / 1024  # KB on Linux


@pytest.mark.slow
def test_a_collection_larger_than_the_memory_cap_still_trains(tmp_path):
    assert SHUFFLE_BUFFER <= 0.8 * 5200  # the smaller collection's training split fills it
    small_mb = collection(tmp_path / "small.db", 5200)
    large_mb = collection(tmp_path / "large.db", 17000)
    assert large_mb - small_mb > 2.5 * MARGIN_MB  # the cap could not hold the extra documents
    cap = peak_rss_mb(tmp_path / "small.db", tmp_path / "small") + MARGIN_MB
    large = peak_rss_mb(tmp_path / "large.db", tmp_path / "large")
    assert large < cap, f"peak {large:.0f} MB over the cap {cap:.0f} MB ({large_mb:.0f} MB file)"
