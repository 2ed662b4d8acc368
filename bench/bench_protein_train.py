"""A sequence CNN classifier on a real SCL2205 subset, streamed from SQLite and from memory,
against two baselines on the same split: the majority class and a one-hot logistic
regression (not CI).

Takes every `--step`-th SCL2205 protein (p-scldata 2025.6.0, its published train/eval/test
split) and writes the same records twice: into a fresh SQLite file (`dataset: {db, collection}`,
streamed by keyset paging) and as a CSV with a protein-set card (`dataset: CARD`, read into
a MemoryStore). One `dmsweep train` process per way (so peak RSS does not mix) trains the same
config with the same seed; prints seconds per epoch, peak RSS, test accuracy, balanced
accuracy, macro F1, and two baselines on the same split: the majority class (the training
split's most frequent class predicted for every test protein) and a multinomial logistic
regression (scikit-learn, which spektral requires) on a one-hot of the sequence (the first
`--max-length` residues, position x residue, sparse) and on the residue composition (22
fractions: 20 amino acids, stop, unknown), its L2 strength chosen on the tune log loss.

    DMSWEEP_DATA_DIR=../shared/data .venv/bin/python bench/bench_protein_train.py \\
        [--step 4] [--epochs 3] [--max-length 400] [--threads N]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from dmsweep.data.protein_batches import NUM_CODES, PAD_CODE, padded_codes
from dmsweep.data.proteins import open_protein_source
from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST, ingest_records
from dmsweep.train.metrics import classification_metrics

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


LOGISTIC_C = (0.01, 0.1, 1.0, 10.0)
"""Inverse L2 strengths tried; the one of the lowest tune log loss is kept."""


def one_hot_features(sequences: list[str], max_length: int) -> sparse.csr_matrix:
    """(n, max_length x 22) sparse: a 1 at (position, residue code) of each residue."""
    codes = padded_codes([s[:max_length] for s in sequences]).astype(np.int64)
    rows, positions = np.nonzero(codes != PAD_CODE)
    columns = positions * (NUM_CODES - 1) + codes[rows, positions]
    shape = (len(sequences), max_length * (NUM_CODES - 1))
    return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, columns)), shape=shape)


def composition_features(sequences: list[str], max_length: int) -> np.ndarray:
    """(n, 22): the fraction of each residue code over the whole sequence."""
    del max_length  # composition counts every residue
    codes = padded_codes(sequences).astype(np.int64)
    counts = np.stack([np.bincount(row, minlength=NUM_CODES)[:PAD_CODE] for row in codes])
    return (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).astype(np.float32)


def logistic_baseline(
    records: list, classes: list[str], features: Callable[[list[str], int], Any], max_length: int
) -> dict:
    """Test metrics of the logistic regression on `features`, L2 chosen on the tune split."""
    from sklearn.linear_model import LogisticRegression

    index = {name: i for i, name in enumerate(classes)}
    parts = {part: [r for r in records if r.split == part] for part in ("train", "tune", "test")}
    x = {p: features([r.sequence for r in rs], max_length) for p, rs in parts.items()}
    y = {p: np.array([index[r.labels["location"]] for r in rs]) for p, rs in parts.items()}

    def probabilities(model: LogisticRegression, part: str) -> np.ndarray:
        out = np.zeros((len(y[part]), len(classes)))
        out[:, model.classes_] = model.predict_proba(x[part])  # classes absent from train: 0
        return out

    best = None
    for c in LOGISTIC_C:
        model = LogisticRegression(C=c, max_iter=500).fit(x["train"], y["train"])
        tune = classification_metrics(y["tune"], probabilities(model, "tune"), classes)
        if best is None or tune["log_loss"] < best[0]:
            best = (tune["log_loss"], model)
    assert best is not None
    return classification_metrics(y["test"], probabilities(best[1], "test"), classes) | {
        "C": best[1].C
    }


def train(config: dict, folder: Path, name: str, threads: int | None) -> dict:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config))
    output = folder / name
    command = [Path(sys.executable).parent / "dmsweep", "train", "--config", str(path)]
    if threads is not None:
        command += ["--threads", str(threads)]
    command += ["-o", str(output), "--quiet"]
    subprocess.run(list(map(str, command)), check=True, stdout=subprocess.DEVNULL)
    (job,) = [p for p in output.iterdir() if not p.name.startswith(".")]
    return json.loads((job / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=400)
    parser.add_argument("--threads", type=int, help="dmsweep train --threads (default: TF's)")
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
            m = train(way_config, folder, f"way{i}", args.threads)
            t = m["splits"]["test"]
            print(
                f"| {way} | {m['seconds_per_epoch']:.1f} | {m['peak_memory_mb']:.0f} "
                f"| {t['accuracy']:.3f} | {t['balanced_accuracy']:.3f} | {t['macro_f1']:.3f} "
                f"| {t['log_loss']:.3f} |"
            )
        print(
            f"| majority class ({majority}) | | | {baseline:.3f} | {1 / len(set(test)):.3f} | | |"
        )
        for what, features in (
            ("one-hot sequence", one_hot_features),
            ("residue composition", composition_features),
        ):
            t = logistic_baseline(records, classes, features, args.max_length)
            print(
                f"| logistic, {what} (C={t['C']:g}) | | | {t['accuracy']:.3f} "
                f"| {t['balanced_accuracy']:.3f} | {t['macro_f1']:.3f} | {t['log_loss']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
