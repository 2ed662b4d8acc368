"""Step time on 1 vs 2 logical CPU devices (MirroredStrategy, the stand-in for two GPUs) for a
`plm` and an `fc` model, the same global batch, measured in the same run.

Each device count runs in a fresh process (`tf.config.set_logical_device_configuration` must
come before TensorFlow starts): 1 device trains without a strategy (as a one-GPU or CPU job
does), 2 under MirroredStrategy(["/cpu:0", "/cpu:1"]) with `batch_size` = global batch / 2 per
device. Both share the same `--threads` CPU threads, so this measures the strategy's
overhead on one machine, not a speed-up: on real GPUs each replica has its own device. The
plm is a tiny BERT from `dmsweep pretrain` on `--corpus` avGFP sequences (240 tokens); the fc
the published 3 x 100. Prints ms per step and the 2-device / 1-device ratio per model.

    nice -n 10 .venv/bin/python bench/bench_devices.py --threads 2     # $DMSWEEP_DATA_DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORKER = "--worker"
MODELS = {
    "fc": ({"model": "fc", "encoding": "one_hot", "learning_rate": 1e-3}, 128),
    "plm": ({"model": "plm", "pooling": "mean", "learning_rate": 1e-4}, 32),
}
"""Model -> (config, global batch)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="(default $DMSWEEP_DATA_DIR)")
    parser.add_argument("--output", type=Path, default=Path("runs/bench_devices"))
    parser.add_argument("--corpus", type=int, default=60, help="pretraining sequences (plm)")
    parser.add_argument("--steps", type=int, default=32, help="timed steps per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(WORKER, type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pretrained", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return _worker(args)

    pretrained = _tiny_plm(args)
    rows: dict[str, dict[int, float]] = {}
    for devices in (1, 2):
        command = [sys.executable, __file__, WORKER, str(devices), "--pretrained", str(pretrained),
                   "--steps", str(args.steps), "--threads", str(args.threads)]  # fmt: skip
        if args.data_dir is not None:
            command += ["--data-dir", str(args.data_dir)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        for model, seconds in json.loads(done.stdout.splitlines()[-1]).items():
            rows.setdefault(model, {})[devices] = seconds
    print(f"{'model':6} {'global batch':>12} {'1 device ms/step':>17} {'2 devices ms/step':>18} "
          f"{'2 / 1':>6}   ({args.threads} threads, {args.steps} steps)")  # fmt: skip
    for model, times in rows.items():
        print(f"{model:6} {MODELS[model][1]:12d} {1e3 * times[1]:17.1f} {1e3 * times[2]:18.1f} "
              f"{times[2] / times[1]:6.2f}")  # fmt: skip
    return 0


def _tiny_plm(args: argparse.Namespace) -> Path:
    """The tiny BERT, pretrained once per corpus size into `--output` (reused after)."""
    from dmsweep.data import load_dataset
    from dmsweep.data.source import DataSource
    from dmsweep.data.variants import ALPHABET
    from dmsweep.train.pretrain import PretrainOptions, pretrain

    folder = args.output / f"tiny-{args.corpus}"
    if folder.is_dir():
        return folder
    args.output.mkdir(parents=True, exist_ok=True)
    gfp = load_dataset("avgfp", source=DataSource.resolve(args.data_dir))
    rows = np.random.default_rng(0).choice(len(gfp), args.corpus, replace=False)
    fasta = args.output / f"corpus-{args.corpus}.fasta"
    with open(fasta, "w", encoding="utf-8") as out:
        for i in rows:
            sequence = "".join(ALPHABET[c] for c in gfp.codes[i]).split("*")[0]
            out.write(f">v{i}\n{sequence}\n")
    return pretrain(PretrainOptions(fasta=fasta, output=folder, max_length=240)).output


def _worker(args: argparse.Namespace) -> int:
    """Seconds per training step of each model on `args.worker` logical devices (JSON)."""
    from dmsweep._tf import tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    cpu = tf.config.list_physical_devices("CPU")[0]
    logical = [tf.config.LogicalDeviceConfiguration()] * args.worker
    tf.config.set_logical_device_configuration(cpu, logical)

    from dmsweep.config import TrainConfig
    from dmsweep.data import encoding_table, load_dataset
    from dmsweep.data.source import DataSource
    from dmsweep.models import ModelInputs
    from dmsweep.train.job import compiled_model, seed_everything
    from dmsweep.train.parallel import Parallel

    gfp = load_dataset("avgfp", source=DataSource.resolve(args.data_dir))
    parallel = Parallel.over([f"/cpu:{i}" for i in range(args.worker)])
    out = {}
    for name, (flat, global_batch) in MODELS.items():
        flat = {**flat, "batch_size": global_batch // parallel.replicas}
        if name == "plm":
            flat["pretrained"] = str(args.pretrained)
        config = TrainConfig.from_flat(flat)
        n = global_batch * args.steps
        codes, scores = gfp.codes[:n], gfp.scores[:n]
        inputs = ModelInputs(encoding_table(("one_hot",)), codes.shape[1], None, args.pretrained)
        seed_everything(1)
        model = compiled_model(config, inputs, n, parallel)
        batches = tf.data.Dataset.from_tensor_slices((codes, scores)).batch(global_batch)
        model.fit(batches, epochs=1, verbose=0)  # tracing and warm-up
        started = time.perf_counter()
        model.fit(batches, epochs=1, verbose=0)
        out[name] = (time.perf_counter() - started) / args.steps
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
