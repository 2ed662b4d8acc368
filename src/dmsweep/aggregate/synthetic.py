"""Synthetic job folders in the exact job-contract format, from a small seeded grid.

For tests, the aggregation benchmark and trying `aggregate` without a cluster. The metrics
follow a known function of the parameters (model type, learning rate, size, training-set
fraction) plus seed noise, so plots and importances have a signal to find. Every folder is
what `dmsweep train` writes (docs/job-contract.md), manifest.json last, minus the model and
the split file.

    make_results(tmp / "results", n=200, faults={"failed": 3, "diverged": 2})
    make_run_folder(tmp / "run", n=200, batch_size=10)
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dmsweep import __version__, jobfiles
from dmsweep.config import TrainConfig
from dmsweep.core.results import write_manifest
from dmsweep.core.runfiles import RunPaths

FAULTS = (
    "failed",  # error.json instead of metrics.json
    "corrupt",  # metrics.json cut off mid-way after manifest.json was written (unparsable)
    "missing_keys",  # metrics.json parses but lacks required keys
    "diverged",  # null losses (the writer turns NaN into null)
    "no_provenance",  # a valid result without provenance.json (kept, with a note)
    "running",  # only a .tmp-<job_id>-<random> folder
    "never_ran",  # no folder at all (still listed in a run folder's jobs.csv)
)
"""Outcomes `make_results` can inject, each into its own jobs (the rest succeed)."""

_QUALITY = {"linear": 0.78, "fc": 0.86, "cnn": 0.9, "gcn": 0.92}
_GRID: dict[str, dict[str, tuple[Any, ...]]] = {
    "linear": {"learning_rate": (1e-4, 1e-3)},
    "fc": {"learning_rate": (1e-4, 1e-3), "units": (50, 100), "dropout": (0.1, 0.3)},
    "cnn": {"learning_rate": (1e-4, 1e-3), "filters": (32, 64), "kernel_size": (3, 9)},
    "gcn": {"learning_rate": (1e-4, 1e-3), "filters": (32, 64), "threshold": (5.0, 7.0)},
}


def synthetic_configs(
    n: int | None = None,
    *,
    seeds: Iterable[int] = (1, 2, 3),
    train_fractions: Iterable[float] = (1.0,),
    rng_seed: int = 0,
) -> list[dict[str, Any]]:
    """Flat, defaults-resolved configs: the full small grid, or `n` drawn from a larger space.

    Without `n`: every model type x its grid x `train_fractions` x `seeds` (78 for the
    defaults). With `n`: `n` distinct configs with log-uniform learning rates and random sizes.
    """
    seeds, fractions = tuple(seeds), tuple(train_fractions)
    if n is None:
        configs = []
        for model, axes in _GRID.items():
            for values in itertools.product(*axes.values(), fractions, seeds):
                flat = dict(zip(axes, values[:-2], strict=True))
                flat.update(model=model, train_fraction=values[-2], seed=values[-1])
                configs.append(_resolve(flat))
        return configs
    rng = np.random.default_rng(rng_seed)
    configs, seen = [], set()
    models = list(_GRID)
    while len(configs) < n:
        model = models[int(rng.integers(len(models)))]
        flat: dict[str, Any] = {
            "model": model,
            "learning_rate": float(f"{10 ** rng.uniform(-4.5, -2.5):.3g}"),
            "seed": seeds[int(rng.integers(len(seeds)))] if seeds else 7,
            "train_fraction": fractions[int(rng.integers(len(fractions)))],
        }
        if model in ("fc",):
            flat["units"] = int(rng.choice([25, 50, 100, 200]))
        if model in ("cnn", "gcn"):
            flat["filters"] = int(rng.choice([16, 32, 64, 128]))
        if model != "linear":
            flat["dropout"] = float(rng.choice([0.1, 0.2, 0.3, 0.5]))
        resolved = _resolve(flat)
        if resolved["job_id"] not in seen:
            seen.add(resolved["job_id"])
            configs.append(resolved)
    return configs


def _resolve(flat: Mapping[str, Any]) -> dict[str, Any]:
    config = TrainConfig.from_flat(flat)
    return {**config.to_flat(), "job_id": config.job_id}


def synthetic_metrics(flat: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A plausible metrics.json for one config: quality depends on the parameters + noise."""
    lr_penalty = 0.04 * abs(math.log10(flat["learning_rate"]) + 3.3)
    size_bonus = 0.01 * math.log2(
        max(flat.get("filters", flat.get("units", 64)), 1) / 64
    ) - 0.03 * abs(flat.get("dropout", 0.2) - 0.2)
    fraction_penalty = 0.08 * math.log10(1 / flat["train_fraction"])
    pearson = _QUALITY[flat["model"]] - lr_penalty + size_bonus - fraction_penalty
    pearson = float(np.clip(pearson + rng.normal(0, 0.01), 0.05, 0.99))
    splits = {}
    for split, n, offset in (("train", 43758, 0.03), ("tune", 4863, 0.0), ("test", 5403, -0.005)):
        r = min(pearson + offset + rng.normal(0, 0.003), 0.995)
        values = {
            "mse": round(0.5 * (1 - r**2) + abs(rng.normal(0, 0.005)), 6),
            "pearson": round(r, 6),
            "spearman": round(r - 0.05, 6),
            "r2": round(r**2 - 0.01, 6),
            "n": int(n * flat["train_fraction"]) if split == "train" else n,
        }
        if split != "train":
            values.update(
                top20_overlap=round(float(np.clip(r - 0.4 + rng.normal(0, 0.05), 0, 1)), 4),
                top100_overlap=round(float(np.clip(r - 0.3 + rng.normal(0, 0.03), 0, 1)), 4),
                ndcg100=round(float(np.clip(r + rng.normal(0, 0.01), 0, 1)), 4),
            )
        splits[split] = values
    epochs = int(rng.integers(20, 60))
    per_epoch = {"linear": 0.3, "fc": 1.2, "cnn": 12.0, "gcn": 9.0}[flat["model"]]
    per_epoch *= flat["train_fraction"] * (1 + 0.2 * rng.random())
    train_s = round(epochs * per_epoch, 3)
    return {
        "job_id": flat["job_id"],
        "splits": splits,
        "epochs_run": epochs,
        "best_epoch": epochs - int(rng.integers(0, min(15, epochs - 1))),
        "early_stopped": epochs < 300,
        "n_parameters": 9481 + 1000 * flat.get("filters", flat.get("units", 0)),
        "timings": {
            "load_data": 1.2,
            "build_model": 0.3,
            "train": train_s,
            "evaluate": 2.0,
            "total": round(train_s + 3.5, 3),
        },
        "seconds_per_epoch": round(per_epoch, 4),
        "peak_memory_mb": round(800 + 2 * flat.get("filters", 10) + 300 * rng.random(), 1),
    }


def write_job_folder(
    results: Path,
    flat: Mapping[str, Any],
    *,
    rng: np.random.Generator,
    fault: str | None = None,
    n_predictions: int = 40,
    host: str = "node01",
) -> Path:
    """Write one job folder (or the trace of a fault) for a resolved flat config."""
    job = flat["job_id"]
    name = f"{jobfiles.TMP_PREFIX}{job}-{rng.integers(1 << 30):x}" if fault == "running" else job
    paths = jobfiles.JobPaths(results / name)
    paths.root.mkdir(parents=True, exist_ok=fault == "running")
    _write_json(paths.config, dict(flat))
    if fault == "running":
        return paths.root
    if fault != "no_provenance":
        _write_json(paths.provenance, _provenance(flat, host))
    if fault == "failed":
        error = {
            "job_id": job,
            "type": "ResourceExhaustedError",
            "message": "OOM when allocating tensor with shape[128,237,64]",
            "phase": "train",
            "traceback_tail": "Traceback (most recent call last):\n  ...",
            "time": "2026-11-21T10:05:00+00:00",
        }
        _write_json(paths.error, error)
        return paths.root
    metrics = synthetic_metrics(flat, rng)
    if fault == "diverged":
        for split in metrics["splits"].values():
            for key in ("mse", "pearson", "spearman", "r2"):
                split[key] = None
    if fault == "missing_keys":
        del metrics["splits"]["test"], metrics["epochs_run"]
    text = json.dumps(metrics, indent=1)
    paths.metrics.write_text(text)
    epochs = metrics.get("epochs_run", 10)
    with paths.history.open("w", newline="") as fh:
        fh.write("epoch,train_loss,tune_loss\n")
        for epoch in range(1, epochs + 1):
            train = 1.0 / epoch + 0.05
            fh.write(f"{epoch},{train:.5f},{train + 0.02 + 0.002 * epoch:.5f}\n")
    truth = np.random.default_rng(n_predictions).normal(3.0, 0.7, n_predictions)  # one test set
    pearson = metrics["splits"].get("test", {}).get("pearson")
    pearson = 0.5 if pearson is None else pearson
    noise = math.sqrt(max(1 - pearson**2, 1e-6)) / max(pearson, 1e-3)
    predicted = truth + rng.normal(0, 0.7 * noise, n_predictions)
    with paths.predictions.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["variant", "true_score", "predicted_score"])
        for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
            variant = f"A{i}D" if i % 3 else f"A{i}D,N{i + 1}K"
            writer.writerow([variant, f"{t:.5f}", f"{p:.5f}"])
    write_manifest(paths.root, job, f"synthetic-{rng.integers(1 << 30):x}")
    if fault == "corrupt":
        paths.metrics.write_text(text[: len(text) // 2])
    return paths.root


def make_results(
    results: Path,
    n: int | None = None,
    *,
    seeds: Iterable[int] = (1, 2, 3),
    train_fractions: Iterable[float] = (1.0,),
    faults: Mapping[str, int] | None = None,
    rng_seed: int = 0,
    n_predictions: int = 40,
) -> dict[str, str]:
    """Fill `results` with job folders; returns {job_id: outcome} ("ok" or a fault name).

    `faults` maps a name of FAULTS to how many jobs get it (spread evenly over the configs).
    "never_ran" jobs get no folder; they exist only in the returned mapping (and jobs.csv).
    """
    configs = synthetic_configs(n, seeds=seeds, train_fractions=train_fractions, rng_seed=rng_seed)
    return _write_results(results, configs, faults or {}, rng_seed, n_predictions)


def make_run_folder(
    run: Path,
    n: int | None = None,
    *,
    batch_size: int = 4,
    seeds: Iterable[int] = (1, 2, 3),
    train_fractions: Iterable[float] = (1.0,),
    faults: Mapping[str, int] | None = None,
    rng_seed: int = 0,
    n_predictions: int = 40,
) -> dict[str, str]:
    """A run folder: results/ as `make_results` fills it, plus jobs.csv (job_id, batch_id, params).

    Batch ids are `b000000`, `b000001`, ... in job order, `batch_size` trainings each (see
    `batch_of`). No events.log is written: tests build CondorRecords themselves.
    """
    paths = RunPaths(run)
    configs = synthetic_configs(n, seeds=seeds, train_fractions=train_fractions, rng_seed=rng_seed)
    outcomes = _write_results(paths.results, configs, faults or {}, rng_seed, n_predictions)
    keys = sorted({k for c in configs for k in c if k != "job_id"})
    with paths.jobs_csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["job_id", "batch_id", *keys])
        for i, flat in enumerate(configs):
            values = (flat.get(k) for k in keys)
            row = ["+".join(v) if isinstance(v, list) else ("" if v is None else v) for v in values]
            writer.writerow([flat["job_id"], f"b{i // batch_size:06d}", *row])
    return outcomes


def batch_of(outcomes: Mapping[str, str], job: str, batch_size: int = 4) -> str:
    """The batch id `make_run_folder` gave a job (outcomes as it returned them)."""
    return f"b{list(outcomes).index(job) // batch_size:06d}"


def _write_results(
    results: Path,
    configs: list[dict[str, Any]],
    faults: Mapping[str, int],
    rng_seed: int,
    n_predictions: int,
) -> dict[str, str]:
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; expected some of {list(FAULTS)}")
    wanted = [fault for fault, count in faults.items() for _ in range(count)]
    if len(wanted) > len(configs):
        raise ValueError(f"{len(wanted)} faults asked for, but only {len(configs)} configs")
    outcomes = {c["job_id"]: "ok" for c in configs}
    step = len(configs) / max(len(wanted), 1)  # >= 1: distinct, evenly spread jobs
    for i, fault in enumerate(wanted):
        outcomes[configs[int(i * step + step / 2)]["job_id"]] = fault
    rng = np.random.default_rng(rng_seed + 1)
    results.mkdir(parents=True, exist_ok=True)
    for flat in configs:
        outcome = outcomes[flat["job_id"]]
        if outcome != "never_ran":
            write_job_folder(
                results,
                flat,
                rng=rng,
                fault=None if outcome == "ok" else outcome,
                n_predictions=n_predictions,
                host=f"node{int(rng.integers(1, 9)):02d}",
            )
    return outcomes


def _provenance(flat: Mapping[str, Any], host: str) -> dict[str, Any]:
    return {
        "dmsweep_version": __version__,
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "git_dirty": False,
        "command": ["dmsweep", "train", "--config", "config.json"],
        "host": host,
        "python": "3.12.1",
        "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
        "libraries": {
            "tensorflow": "2.21.0",
            "tf-keras": "2.21.0",
            "spektral": "1.3.1",
            "numpy": "2.4.6",
        },
        "start_time": "2026-11-21T10:00:00+00:00",
        "end_time": "2026-11-21T10:05:00+00:00",
        "seeds": {"job": flat["seed"], "python": flat["seed"], "numpy": flat["seed"]},
        "data_files": {"avgfp.tsv": "sha256:" + "0" * 64},
        "split_checksums": {"train": "sha256:" + "1" * 64},
        "threads": 2,
        "device": {"kind": "cpu", "cpu": "AMD EPYC", "threads": 2, "gpus": [], "label": "AMD EPYC"},
        "condor": None,
    }


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1))
