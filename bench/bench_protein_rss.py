"""Peak RSS of a real training epoch on protein sets of 1,000, 10,000 and 100,000 proteins
streamed from SQLite: memory O(batch), flat in the collection's size (goal: within 10 % of
the smallest; not CI).

Ingests N synthetic proteins (`bench_db_stream.synthetic`: 20-40 residues, C-alpha on a
random walk, a binary label, 80/10/10 % train/tune/test) into a fresh SQLite file per size,
then trains each model (`gcn` with `pooling: attention` over kNN residue graphs, and the
sequence `cnn`; small, batch 64, one whole epoch, then the evaluation of every split) as
its own `dmsweep train --threads 1` process, and reads that process's peak RSS from the
kernel (`os.wait4`: ru_maxrss of the child alone). Prints, per model and size, the peak RSS
and its ratio to the smallest size's, the seconds of the epoch and the whole process.

    .venv/bin/python bench/bench_protein_rss.py [--sizes 1000,10000,100000] [--models gcn,cnn]
        [--batch 64] [--lengths 20,40] [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_db_stream import synthetic

from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST, ingest_records

COLLECTION = "bench"
SMALL = {
    "encoding": "one_hot",
    "layers": 2,
    "filters": 16,
    "dense_units": 16,
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "max_epochs": 1,
    "seed": 1,
}
MODELS = {
    "gcn": {"model": "gcn", "graph": "knn", "k": 8, "pooling": "attention", **SMALL},
    "cnn": {"model": "cnn", "kernel_size": 5, **SMALL},
}


def write_collection(db: Path, size: int, lengths: tuple[int, int]) -> float:
    """Ingest `size` synthetic proteins with the ingest record training needs; seconds."""
    start = time.perf_counter()
    store = open_store(str(db))
    ingest_records(store, COLLECTION, synthetic(size, lengths=lengths), chunk=2000)
    store.put_meta(COLLECTION, META_INGEST, {"labels": {"class": ["a", "b"]}})
    store.close()
    return time.perf_counter() - start


def train_peak(config: dict, folder: Path) -> tuple[float, float, float]:
    """(peak RSS MB of the `dmsweep train` process, s/epoch, wall s) of one training."""
    folder.mkdir()
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    program = Path(sys.executable).parent / "dmsweep"
    command = [str(program), "train", "--config", str(path), "-o", str(folder / "results")]
    start = time.perf_counter()
    child = subprocess.Popen([*command, "--threads", "1", "--quiet"], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {child.returncode}")
    (job,) = [p for p in (folder / "results").iterdir() if not p.name.startswith(".")]
    metrics = json.loads((job / "metrics.json").read_text())
    return usage.ru_maxrss / 1024, metrics["seconds_per_epoch"], wall  # ru_maxrss: KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--models", default="gcn,cnn", help=f"of {list(MODELS)}")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lengths", default="20,40", help="shortest,longest protein")
    parser.add_argument("--folder", type=Path, help="where the SQLite files go (default: tmp)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    low, high = (int(n) for n in args.lengths.split(","))
    models = args.models.split(",")
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        folder = Path(tmp)
        print(f"batch {args.batch}, {low}-{high} residues, 1 epoch, --threads 1, SQLite")
        print("| model | proteins | ingest s | s/epoch | process s | peak RSS MB | vs smallest |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        ingest = {}
        for size in sizes:
            ingest[size] = write_collection(folder / f"set-{size}.db", size, (low, high))
        for model in models:
            smallest = None
            for size in sizes:
                dataset = {"db": f"sqlite://{folder / f'set-{size}.db'}", "collection": COLLECTION}
                config = {**MODELS[model], "batch_size": args.batch, "dataset": dataset}
                peak, epoch, wall = train_peak(config, folder / f"{model}-{size}")
                smallest = smallest or peak
                print(
                    f"| {model} | {size:,} | {ingest[size]:.1f} | {epoch:.1f} | {wall:.0f} "
                    f"| {peak:.0f} | {peak / smallest:.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
