"""The real check of a structure model on protein documents, at a larger size than its slow
test: avGFP variants as protein documents, a gcn streamed from the database against the
variant-table gcn in memory.

Both trainings are real `dmsweep train` processes (one thread each, one after the other)
with the same seed and settings, hence the same initial function and batch order: a gcn
with attention pooling on the 7 A C-beta graph of the avGFP structure. The in-memory one
reads the variant table (`dataset: avgfp`, the published `main` split reduced by
`train_fraction` from `split_seed`); the streamed one reads the same variants, written as
protein documents (full sequence, the structure's coordinates, the score as a numeric label,
the split part; `dmsweep.db.variant_documents`), from SQLite or a MongoDB-protocol server
(`--db mongodb://...`: the same code), and builds each protein's graph per batch (the same
edges: printed). Prints each seed's test Pearson of both, the difference, seconds per epoch,
and with several seeds the spread of each way over seeds.

    DMSWEEP_DATA_DIR=../shared/data .venv/bin/python bench/bench_gfp_documents.py \\
        [--train-fraction 0.05] [--epochs 8] [--seeds 0 1] [--db URI] [--json] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dmsweep.config import TrainConfig
from dmsweep.data import load_dataset, make_split, residue_graph
from dmsweep.data.protein_batches import GraphSpec, batch_arrays
from dmsweep.data.source import DataSource
from dmsweep.db import open_store
from dmsweep.db.stream import stream_records
from dmsweep.db.variant_documents import write_variant_collection

SETTINGS = {
    "model": "gcn",
    "pooling": "attention",
    "graph": "distance",
    "threshold": 7.0,
    "layers": 2,
    "filters": 32,
    "dense_units": 32,
    "dropout": 0.0,  # the two models draw dropout masks by different ops
    "batch_size": 32,
    "learning_rate": 1e-3,
}
SPLIT_SEED = 0


@dataclass(frozen=True)
class Run:
    seed: int
    in_memory: float
    streamed: float
    in_memory_seconds_per_epoch: float
    streamed_seconds_per_epoch: float
    in_memory_job: str
    streamed_job: str

    @property
    def difference(self) -> float:
        return self.streamed - self.in_memory


@dataclass(frozen=True)
class Comparison:
    train_fraction: float
    epochs: int
    sizes: dict[str, int]
    shared_edges: int
    document_edges: int
    runs: list[Run]

    def to_json(self) -> dict:
        out = asdict(self)
        out["differences"] = [r.difference for r in self.runs]
        return out


def train(config: dict, folder: Path, name: str, data_dir: Path) -> tuple[dict, Path]:
    """One `dmsweep train` process on one thread: (metrics.json, job folder)."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config))
    output = folder / name
    command = [str(Path(sys.executable).parent / "dmsweep"), "train", "--config", str(path)]
    command += ["-o", str(output), "--quiet", "--threads", "1", "--data-dir", str(data_dir)]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    (job,) = [p for p in output.iterdir() if not p.name.startswith(".")]
    return json.loads((job / "metrics.json").read_text()), job


def compare(
    *,
    train_fraction: float,
    epochs: int,
    work: Path,
    data_dir: Path,
    seeds: tuple[int, ...] = (0,),
    db: str | None = None,
) -> Comparison:
    """Write the documents, train both ways for each seed, return the test Pearsons."""
    gfp = load_dataset("avgfp", source=DataSource.resolve(data_dir, None))
    in_memory = {
        **SETTINGS,
        "max_epochs": epochs,
        "patience": epochs,
        "train_fraction": train_fraction,
        "split_seed": SPLIT_SEED,
    }
    split = make_split(gfp, TrainConfig.from_flat(in_memory).data)
    uri = db or f"sqlite://{work / 'gfp.db'}"
    collection = f"avgfp_main_{train_fraction:g}".replace(".", "_")
    store = open_store(uri, timeout=10)
    write_variant_collection(store, collection, gfp, split)
    (first,) = list(stream_records(store, collection, split="test"))[:1]
    store.close()
    graph = GraphSpec("distance", threshold=SETTINGS["threshold"])
    inputs, _ = batch_arrays([first], task=None, graph=graph)
    shared = residue_graph(gfp.structure_path(), threshold=SETTINGS["threshold"])
    streamed = {
        key: value
        for key, value in in_memory.items()
        if key not in ("train_fraction", "split_seed")
    }
    streamed["dataset"] = {"db": uri, "collection": collection}
    runs = []
    for seed in seeds:
        ran = {}
        for way, config in (("memory", in_memory), ("documents", streamed)):
            ran[way] = train({**config, "seed": seed}, work, f"{way}{seed}", data_dir)
        (m, m_job), (d, d_job) = ran["memory"], ran["documents"]
        runs.append(
            Run(
                seed=seed,
                in_memory=m["splits"]["test"]["pearson"],
                streamed=d["splits"]["test"]["pearson"],
                in_memory_seconds_per_epoch=m["seconds_per_epoch"],
                streamed_seconds_per_epoch=d["seconds_per_epoch"],
                in_memory_job=str(m_job),
                streamed_job=str(d_job),
            )
        )
    return Comparison(
        train_fraction=train_fraction,
        epochs=epochs,
        sizes=split.sizes(),
        shared_edges=int(shared.sum()),
        document_edges=int((inputs["edge_weights"][0] > 0).sum()),
        runs=runs,
    )


def report(result: Comparison) -> None:
    print(
        f"avGFP main split, train_fraction {result.train_fraction:g} (split_seed {SPLIT_SEED}): "
        f"{result.sizes}; {result.epochs} epochs; gcn {json.dumps(SETTINGS)}"
    )
    print(
        f"graph edges (directed): shared {result.shared_edges}, per document "
        f"{result.document_edges}"
    )
    print(
        "| seed | in-memory test Pearson | streamed test Pearson | difference "
        "| s/epoch memory | s/epoch documents |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in result.runs:
        print(
            f"| {r.seed} | {r.in_memory:.4f} | {r.streamed:.4f} | {r.difference:+.4f} "
            f"| {r.in_memory_seconds_per_epoch:.1f} | {r.streamed_seconds_per_epoch:.1f} |"
        )
    if len(result.runs) > 1:
        memory = np.array([r.in_memory for r in result.runs])
        documents = np.array([r.streamed for r in result.runs])
        differences = documents - memory
        print(
            f"over {len(result.runs)} seeds: in-memory {memory.mean():.4f} "
            f"(SD {memory.std(ddof=1):.4f}), "
            f"streamed {documents.mean():.4f} (SD {documents.std(ddof=1):.4f}), "
            f"mean difference {differences.mean():+.4f}, largest |difference| "
            f"{np.abs(differences).max():.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-fraction", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--db", metavar="URI", help="default: a fresh SQLite file")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("DMSWEEP_DATA_DIR"))
    parser.add_argument("--json", action="store_true", help="also print the result as JSON")
    parser.add_argument(
        "--work", type=Path, metavar="DIR", help="keep the store and job folders here"
    )
    args = parser.parse_args()
    if args.data_dir is None:
        parser.error("set DMSWEEP_DATA_DIR or --data-dir (where avgfp/ is)")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = compare(
            train_fraction=args.train_fraction,
            epochs=args.epochs,
            work=work,
            data_dir=Path(args.data_dir),
            seeds=tuple(args.seeds),
            db=args.db,
        )
        report(result)
        if args.json:
            print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()
