"""Does pretraining help? On SCL2205 (subcellular localisation, 13 classes), in one run on the
same proteins of the published split (small budget: read the numbers as "after N epochs on
every `--step`-th protein", not as converged models):

1. `dmsweep pretrain` (preset `--preset`, `--max-length` tokens) on the sequences of the
   subset's *training* split only (no labels, no tune or test protein), printing the
   masked-LM loss before/after and pretraining tokens per second;
2. the same architecture with random weights (`dmsweep pretrain` with 0 epochs: the same
   config, tokenizer and code path, nothing learnt);
3. model `plm` fine-tuned from each (CLS pooling, AdamW with warm-up, the first
   `max_length - 2` residues of each protein), and the one-hot `cnn` of
   tests/test_train_proteins.py (first `--cnn-residues` residues), through the real job path
   from one SQLite collection, `--max-epochs` each; prints test accuracy, balanced
   accuracy, macro F1, log loss, seconds per epoch and the fine-tuning tokens per second
   (tokens of the training split per epoch / seconds per epoch, which includes the tune
   pass), beside the majority-class accuracy; `head:embedding` is the frozen-embedding mode
   of the pretrained model (mean pooling, embeddings computed once into the cache, then only
   the head trains, learning rate 1e-2; its s/epoch is the head's, its embedding pass is in
   the job's `timings.train`).

    nice -n 10 .venv/bin/python bench/bench_plm_scl.py --step 10 --max-epochs 3 --threads 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

from dmsweep.data.proteins import open_protein_source
from dmsweep.db import open_store
from dmsweep.db.ingest import META_INGEST, ingest_records
from dmsweep.train import RunOptions, run_trainings
from dmsweep.train.pretrain import PRESETS, PretrainOptions, pretrain, summary
from dmsweep.train.trainer import configure_threads

CNN = {"model": "cnn", "layers": 2, "filters": 32, "kernel_size": 9, "dense_units": 32,
       "encoding": "one_hot", "batch_size": 32, "learning_rate": 3e-3}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("runs/bench_plm_scl"))
    parser.add_argument("--step", type=int, default=10, help="every N-th SCL2205 protein")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--max-length", type=int, default=128, help="tokens, with CLS/SEP")
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--cnn-residues", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    threads = configure_threads(args.threads)
    args.output.mkdir(parents=True, exist_ok=True)
    tag = f"{args.preset}-{args.step}-{args.max_length}-{args.pretrain_epochs}"

    reading = open_protein_source("scl2205")
    records = list(itertools.islice(reading, 0, None, args.step))
    db = args.output / f"scl-{args.step}.db"
    store = open_store(str(db))
    ingest_records(store, "scl", records)
    labels = {s.name: list(s.classes) for s in reading.card.labels}
    store.put_meta("scl", META_INGEST, {"card": "scl2205", "labels": labels})
    store.close()
    train = [r for r in records if r.split == "train"]
    print(f"SCL2205 every {args.step}th protein: {len(records)} proteins, {len(train)} train; "
          f"{threads} threads")  # fmt: skip

    fasta = args.output / f"train-{args.step}.fasta"
    fasta.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in train), encoding="utf-8")
    models = {}
    for name, epochs in (("pretrained", args.pretrain_epochs), ("scratch", 0)):
        folder = args.output / f"{name}-{tag}"
        if not folder.is_dir():
            options = PretrainOptions(fasta=fasta, output=folder, preset=args.preset,
                                      epochs=epochs, max_length=args.max_length)  # fmt: skip
            started = time.perf_counter()
            result = pretrain(options)
            print(f"pretrain {name} ({epochs} epochs, {time.perf_counter() - started:.0f} s): "
                  f"{summary(result)}")  # fmt: skip
        models[name] = folder

    dataset = {"db": f"sqlite:///{db.resolve()}", "collection": "scl"}
    plm = {"model": "plm", "pooling": "cls", "dropout": 0.1, "max_length": args.max_length,
           "warmup_fraction": 0.1, "learning_rate": args.learning_rate,
           "batch_size": args.batch_size}  # fmt: skip
    runs = {
        "plm pretrained": {**plm, "pretrained": str(models["pretrained"].resolve())},
        "plm from scratch": {**plm, "pretrained": str(models["scratch"].resolve())},
        "plm head:embedding": {
            **plm,
            "pretrained": str(models["pretrained"].resolve()),
            "head": "embedding",
            "pooling": "mean",
            "learning_rate": 1e-2,
        },
        "cnn one-hot": {**CNN, "max_residues": args.cnn_residues},
    }
    common = {"dataset": dataset, "max_epochs": args.max_epochs, "patience": args.max_epochs}
    from dmsweep.config import TrainConfig

    configs = [TrainConfig.from_flat({**flat, **common}) for flat in runs.values()]
    options = RunOptions(output_root=args.output / "results", threads=args.threads)
    outcomes = run_trainings(configs, options=options)
    tokens = sum(min(len(r.sequence), args.max_length - 2) + 2 for r in train)
    print(f"\n{'model':18} {'acc':>6} {'bal_acc':>7} {'macroF1':>7} {'logloss':>7} "
          f"{'s/epoch':>8} {'tokens/s':>8}  job")  # fmt: skip
    majority = None
    for name, outcome in zip(runs, outcomes, strict=True):
        if not outcome.ok:
            print(f"{name:18} FAILED: {outcome.error}")
            continue
        metrics = json.loads((outcome.path / "metrics.json").read_text())
        test = metrics["splits"]["test"]
        majority = max(test["n_per_class"].values()) / test["n"]
        per_epoch = metrics["seconds_per_epoch"]
        tuned = name.startswith("plm") and "embedding" not in name
        rate = f"{tokens / per_epoch:8.0f}" if tuned else f"{'-':>8}"
        print(f"{name:18} {test['accuracy']:6.3f} {test['balanced_accuracy']:7.3f} "
              f"{test['macro_f1']:7.3f} {test['log_loss']:7.3f} {per_epoch:8.1f} {rate}  "
              f"{outcome.path.name} ({metrics['timings']['train']:.0f} s training)")  # fmt: skip
    if majority is not None:
        print(f"{'majority class':18} {majority:6.3f}   (test n = {test['n']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
