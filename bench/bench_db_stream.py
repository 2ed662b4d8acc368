"""Streaming protein batches from the embedded SQLite store: throughput and peak RSS against
holding every protein in memory, for collections of two sizes (not CI).

Ingests N synthetic proteins (50-150 residues, C-alpha on a random walk, 80/10/10 %
train/tune/test; `bench_protein_rss.py` trains on the same kind) into a fresh SQLite file
per size, then runs each way in its own process (so peaks do not mix):
- `stream`: keyset-paged batches of the train split with a kNN graph per protein
  (`dmsweep.db.stream.stream_batches`): memory O(batch), flat in N;
- `memory`: the baseline: every train protein read into a list first, then the same
  batches and graphs: memory O(N).

    .venv/bin/python bench/bench_db_stream.py [--sizes 10000,100000] [--batch 64] [--knn 8]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dmsweep.data.proteins import ProteinRecord
from dmsweep.db import open_store
from dmsweep.db.ingest import ingest_records
from dmsweep.db.stream import ProteinBatch, iter_documents, protein_graphs, stream_batches

COLLECTION = "bench"
RESIDUES = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


SPLITS = ("train",) * 8 + ("tune", "test")
"""By index mod 10: 80 % train, 10 % tune, 10 % test."""


def synthetic(
    n: int, seed: int = 0, lengths: tuple[int, int] = (50, 150)
) -> Iterator[ProteinRecord]:
    """n proteins of `lengths` residues (inclusive), a binary label `class` (a, b),
    generated one at a time (the ingest never holds them all)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        ca = np.cumsum(rng.normal(0, 2.2, (length, 3)), axis=0).astype(np.float32)
        yield ProteinRecord(
            id=f"S{i:07d}",
            sequence="".join(rng.choice(RESIDUES, length)),
            labels={"class": "ab"[i % 2]},
            ca=ca,
            split=SPLITS[i % 10],
        )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def measure(way: str, db: str, batch: int, knn: int) -> dict:
    """One way, in this process: seconds, proteins, RSS after imports and at the peak."""
    store = open_store(db)
    protein_graphs(tuple(synthetic(1)), knn)  # scipy's import is not part of the timing
    start_rss = peak_rss_mb()
    start = time.perf_counter()
    proteins = 0
    if way == "stream":
        for got in stream_batches(store, COLLECTION, split="train", batch_size=batch, knn=knn):
            proteins += len(got.records)
    else:
        from dmsweep.db.documents import document_to_record

        held = [document_to_record(d) for d in iter_documents(store, COLLECTION, split="train")]
        for first in range(0, len(held), batch):
            records = tuple(held[first : first + batch])
            got = ProteinBatch(records=records, edges=protein_graphs(records, knn))
            proteins += len(got.records)
    seconds = time.perf_counter() - start
    store.close()
    return {"seconds": seconds, "proteins": proteins, "start": start_rss, "peak": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--knn", type=int, default=8)
    parser.add_argument("--folder", type=Path, help="where the SQLite files go (default: tmp)")
    parser.add_argument("--measure", choices=("stream", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.db, args.batch, args.knn)))
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        print(f"batch {args.batch}, kNN k={args.knn}, train split (80 %) of each collection")
        print(
            f"{'proteins':>9} {'way':>7} {'ingest s':>9} {'seconds':>8} {'proteins/s':>11} "
            f"{'RSS start MB':>13} {'peak MB':>8} {'db MB':>7}"
        )
        for size in (int(s) for s in args.sizes.split(",")):
            db = str(Path(folder) / f"bench-{size}.db")
            start = time.perf_counter()
            store = open_store(db)
            ingest_records(store, COLLECTION, synthetic(size), chunk=2000)
            store.close()
            ingest = time.perf_counter() - start
            size_mb = Path(db).stat().st_size / 2**20
            for way in ("stream", "memory"):
                command = [
                    sys.executable,
                    __file__,
                    "--measure",
                    way,
                    "--db",
                    db,
                    "--batch",
                    str(args.batch),
                    "--knn",
                    str(args.knn),
                ]
                out = subprocess.run(command, capture_output=True, text=True, check=True)
                got = json.loads(out.stdout.strip().splitlines()[-1])
                rate = got["proteins"] / got["seconds"]
                print(
                    f"{size:>9,} {way:>7} {ingest:>9.1f} {got['seconds']:>8.1f} {rate:>11,.0f} "
                    f"{got['start']:>13.0f} {got['peak']:>8.0f} {size_mb:>7.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
