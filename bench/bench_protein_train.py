"""A sequence CNN classifier on a real SCL2205 subset, streamed from SQLite and from memory,
against the majority-class baseline of the same split (not CI).

Takes every `--step`-th SCL2205 protein (p-scldata 2025.6.0, its published train/eval/test
split) and writes the same records twice: into a fresh SQLite file (`dataset: {db, collection}`,
streamed by keyset paging) and as a CSV with a protein-set card (`dataset: CARD`, read into
a MemoryStore). One `dmsweep train` process per way (so peak RSS does not mix) trains the same
config with the same seed; prints seconds per epoch, peak RSS, test accuracy, balanced
accuracy, macro F1, and the majority-class baseline (the training split's most frequent class
predicted for every test protein).

    DMSWEEP_DATA_DIR=../shared/data .venv/bin/python bench/bench_protein_train.py \\
        [--step 4] [--epochs 3] [--max-length 400]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from dmsweep.data.proteins import open_protein_source
from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST, ingest_records

CONFIG = {
    "model": "cnn",
    "layers": 2,
    "filters": 64,
    "kernel_size": 9,
    "dense_units": 64,
    "encoding": "one_hot",
    "batch_size": 64,
    "learning_rate": 3e-3,
    "patience": 100,
    "seed": 1,
}


def write_subset(step: int, folder: Path) -> tuple[list, list[str]]:
    reading = open_protein_source("scl2205")
    records = list(itertools.islice(reading, 0, None, step))
    (spec,) = reading.card.labels
    classes = list(spec.classes or ())
    store = open_store(str(folder / "scl.db"))
    ingest_records(store, "scl", records)
    store.put_meta("scl", META_INGEST, {"card": "scl2205", "labels": {spec.name: classes}})
    store.close()
    with open(folder / "scl.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "sequence", "location", "split"])
        for r in records:
            writer.writerow([r.id, r.sequence, r.labels["location"], r.split])
    card = {
        "kind": "protein_set",
        "name": "scl_subset",
        "source": "scl.csv",
        "split_column": "split",
        "residues": reading.card.residues,
        "labels": {"location": {"classes": classes}},
    }
    (folder / "scl.yaml").write_text(json.dumps(card))  # JSON is YAML
    return records, classes


def train(config: dict, folder: Path, name: str) -> dict:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config))
    output = folder / name
    command = [Path(sys.executable).parent / "dmsweep", "train", "--config", str(path)]
    subprocess.run([*map(str, command), "-o", str(output), "--quiet"], check=True)
    (job,) = [p for p in output.iterdir() if not p.name.startswith(".")]
    return json.loads((job / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        records, classes = write_subset(args.step, folder)
        parts = Counter(r.split for r in records)
        train_counts = Counter(r.labels["location"] for r in records if r.split == "train")
        test = [r.labels["location"] for r in records if r.split == "test"]
        majority = train_counts.most_common(1)[0][0]
        baseline = sum(label == majority for label in test) / len(test)
        print(
            f"SCL2205 every {args.step}th protein: {len(records)} ({dict(parts)}), "
            f"{len(classes)} classes, first {args.max_length} residues, {args.epochs} epochs"
        )
        config = {**CONFIG, "max_epochs": args.epochs, "max_residues": args.max_length}
        ways = {
            "streamed from SQLite": {
                **config,
                "dataset": {"db": f"sqlite://{folder / 'scl.db'}", "collection": "scl"},
            },
            "card in memory": {**config, "dataset": str(folder / "scl.yaml")},
        }
        print(
            "| way | s/epoch | peak RSS MB | test accuracy | balanced accuracy | macro F1 "
            "| test log loss |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, (way, way_config) in enumerate(ways.items()):
            m = train(way_config, folder, f"way{i}")
            t = m["splits"]["test"]
            print(
                f"| {way} | {m['seconds_per_epoch']:.1f} | {m['peak_memory_mb']:.0f} "
                f"| {t['accuracy']:.3f} | {t['balanced_accuracy']:.3f} | {t['macro_f1']:.3f} "
                f"| {t['log_loss']:.3f} |"
            )
        print(
            f"| majority class ({majority}) | | | {baseline:.3f} | {1 / len(set(test)):.3f} | | |"
        )


if __name__ == "__main__":
    main()
