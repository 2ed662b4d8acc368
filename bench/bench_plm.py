"""A locally pretrained protein language model fine-tuned on avGFP, next to the published FC,
trained in the same run on the same variants of splits/main (small budget: read the numbers
as "after N epochs on a fraction of the training set", not as converged models).

1. `dmsweep pretrain` (tiny: 2 layers x 32, 240 tokens) on the full sequences of
   `--corpus` variants drawn (seed 0) from the training set of splits/main (sequences only,
   no scores), printing the masked-LM loss before/after and tokens per second;
2. model `plm` (mean pooling, AdamW with warm-up) and `fc` (the published 3 x 100) through the
   real job path on `--train-fraction` of the training set, tune and test (stest) unchanged,
   `--max-epochs` each; prints test Spearman and Pearson, seconds per epoch and the plm's
   fine-tuning tokens per second; `plm-emb` is the frozen-embedding mode (`head: embedding`:
   embeddings of the train, tune and test variants computed once into the cache, then only
   the head trains, learning rate 1e-2);
3. zero-shot: the masked-marginal log-likelihood ratio of the same pretrained model
   (`dmsweep predict --zero-shot`, no training, no scores), Spearman on the same test
   variants. A stop-codon variant has no zero-shot score, so a last column gives every
   model's Spearman on the test variants without a stop. The pretrained model saw a few
   hundred avGFP sequences: this measures the method on local weights, not ProtBERT;
   the row `-mutations` (minus the number of mutations, no model) is the bar it must clear.

    .venv/bin/python bench/bench_plm.py --train-fraction 0.02 --max-epochs 3   # $DMSWEEP_DATA_DIR
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
from scipy import stats

from dmsweep.config import TrainConfig
from dmsweep.data import load_dataset, make_split
from dmsweep.data.source import DataSource
from dmsweep.data.variants import ALPHABET
from dmsweep.train import RunOptions, run_trainings
from dmsweep.train.pretrain import PretrainOptions, pretrain, summary
from dmsweep.train.zero_shot import masked_marginals, stop_variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="(default $DMSWEEP_DATA_DIR)")
    parser.add_argument("--output", type=Path, default=Path("runs/bench_plm"))
    parser.add_argument("--corpus", type=int, default=300, help="pretraining sequences")
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--train-fraction", type=float, default=0.02)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    source = DataSource.resolve(args.data_dir)
    gfp = load_dataset("avgfp", source=source)
    args.output.mkdir(parents=True, exist_ok=True)
    fasta = args.output / "corpus.fasta"
    train_rows = make_split(gfp, TrainConfig().data).train
    rows = np.random.default_rng(0).choice(train_rows, args.corpus, replace=False)
    with open(fasta, "w", encoding="utf-8") as out:
        for i in rows:
            sequence = "".join(ALPHABET[c] for c in gfp.codes[i]).split("*")[0]
            out.write(f">{gfp.variants[i] or 'wild_type'}\n{sequence}\n")
    model_dir = args.output / f"tiny-{args.corpus}-{args.pretrain_epochs}"
    if not model_dir.exists():
        options = PretrainOptions(fasta=fasta, output=model_dir, max_length=240,
                                  epochs=args.pretrain_epochs)  # fmt: skip
        print("pretrain (tiny, 240 tokens):", summary(pretrain(options)), flush=True)
    common = {"split": "main", "train_fraction": args.train_fraction,
              "max_epochs": args.max_epochs, "patience": args.max_epochs}  # fmt: skip
    configs = {
        "fc": {"model": "fc", "layers": 3, "units": 100, "learning_rate": 1e-4,
               "batch_size": 32},
        "plm": {"model": "plm", "pretrained": str(model_dir.resolve()), "pooling": "mean",
                "learning_rate": 1e-3, "batch_size": 32},
        "plm-emb": {"model": "plm", "pretrained": str(model_dir.resolve()), "pooling": "mean",
                    "head": "embedding", "learning_rate": 1e-2, "batch_size": 32},
    }  # fmt: skip
    options = RunOptions(output_root=args.output / "jobs", data_dir=args.data_dir,
                         threads=args.threads, verbose=True)  # fmt: skip
    test_rows = make_split(gfp, TrainConfig.from_flat(common).data).test
    no_stop = {gfp.variants[i] for i in test_rows if not stop_variants(gfp.codes[[i]])[0]}
    print(f"{'model':<10} {'test spearman':>14} {'test pearson':>13} {'s/epoch':>8} "
          f"{'no-stop spearman':>17}  notes")  # fmt: skip
    for name, flat in configs.items():
        config = TrainConfig.from_flat({**flat, **common})
        started = time.perf_counter()
        (outcome,) = run_trainings([config], options=options)
        if not outcome.ok:
            print(f"{name:<10} FAILED: {outcome.error}")
            continue
        metrics = json.loads((outcome.path / "metrics.json").read_text())
        test, n_train = metrics["splits"]["test"], metrics["splits"]["train"]["n"]
        per_epoch = metrics["seconds_per_epoch"]
        note = f"{n_train} train variants, {test['n']} test, {time.perf_counter() - started:.0f} s"
        if name == "plm":
            note += f", fine-tuning {n_train * 239 / per_epoch:.0f} tokens/s (tune loss incl.)"
        rho = _no_stop_spearman(outcome.path / "predictions.csv", no_stop)
        print(f"{name:<10} {test['spearman']:>14.3f} {test['pearson']:>13.3f} "
              f"{per_epoch:>8.1f} {rho:>17.3f}  {note}", flush=True)  # fmt: skip
    _zero_shot_row(gfp, model_dir, test_rows)
    return 0


def _zero_shot_row(gfp, model_dir: Path, test_rows: np.ndarray) -> None:
    """Masked-marginal scores of the test variants: one table of L masked passes, then
    lookups; Spearman on the variants without a stop (the others have no score)."""
    started = time.perf_counter()
    table = masked_marginals(model_dir, gfp.card.wild_type)
    scores = table.score(gfp.codes[test_rows])
    seconds = time.perf_counter() - started
    kept = ~np.isnan(scores)
    true = gfp.scores[test_rows][kept]
    rho = stats.spearmanr(true, scores[kept]).statistic
    note = (f"no training; {int(kept.sum())} of {len(test_rows)} test variants scored "
            f"({int((~kept).sum())} with a stop), {table.window}-residue windows, "
            f"{seconds:.1f} s")  # fmt: skip
    print(f"{'zero-shot':<10} {'-':>14} {'-':>13} {'-':>8} {rho:>17.3f}  {note}", flush=True)
    fewer = stats.spearmanr(true, -gfp.num_mutations[test_rows][kept]).statistic
    print(f"{'-mutations':<10} {'-':>14} {'-':>13} {'-':>8} {fewer:>17.3f}  baseline: score = "
          "minus the number of mutations, same variants", flush=True)  # fmt: skip


def _no_stop_spearman(predictions: Path, no_stop: set[str]) -> float:
    """A trained model's test Spearman on the variants the zero-shot scores (no stop)."""
    with open(predictions, encoding="utf-8") as stream:
        rows = [r for r in csv.DictReader(stream) if r["variant"] in no_stop]
    true = [float(r["true_score"]) for r in rows]
    return float(stats.spearmanr(true, [float(r["predicted_score"]) for r in rows]).statistic)


if __name__ == "__main__":
    raise SystemExit(main())
