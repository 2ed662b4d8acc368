"""Measured training speed per model type and device, read back to calibrate the estimate.

`run_builder SPEC --dry-run --timings FILE` reads an earlier sweep's `summary.csv` (written by
`aggregate`, which records each training's device) or the CSV `bench/bench_speed.py --csv`
writes; both have a row per training with `model`, `device` ("cpu: ..." or "gpu: ..."),
`seconds_per_epoch`, `epochs_run` and the training's flat config keys. For each model type
and device kind the median ratio of measured to modelled seconds per epoch calibrates the
cost model (docs/sweep-spec.md#estimates), so a planned configuration of another size gets
the measured speed scaled by the model's work ratio.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dmsweep.config import MODEL_TYPES, TrainConfig, flat_keys
from dmsweep.errors import ConfigError, DataError
from dmsweep.run_builder.estimate import epoch_seconds, expected_epochs
from dmsweep.run_builder.expand import PlannedBatch

DEVICE_KINDS = ("cpu", "gpu")
DEFAULT_GPU_HOUR_COST = 10.0
"""Core-hours one GPU-hour is worth when the two requests are compared (`--gpu-hour-cost`)."""
_REQUIRED = ("model", "device", "seconds_per_epoch")


@dataclass(frozen=True)
class DeviceSpeed:
    """What the measurements say of one model type on one kind of device."""

    trainings: int
    """Measured trainings behind the figures."""
    speed_factor: float
    """Median of measured / modelled seconds per epoch."""
    epochs: float | None
    """Median epochs a training ran (None: the cost model's expectation is used)."""


@dataclass(frozen=True)
class Timings:
    """Measured speed per (model type, device kind), from one file."""

    source: Path
    speeds: Mapping[tuple[str, str], DeviceSpeed]
    skipped: int = 0
    """Rows without a usable measurement (failed, no device, no seconds_per_epoch)."""

    def speed(self, model: str, kind: str) -> DeviceSpeed | None:
        return self.speeds.get((model, kind))


@dataclass(frozen=True)
class DeviceCost:
    """One model type of a plan run on one device kind."""

    model: str
    kind: str
    trainings: int
    seconds_per_epoch: float
    """Median planned training's seconds per epoch on this device (wall clock)."""
    wall_hours: float
    """All planned trainings of the type, one after another."""
    charged_hours: float
    """Core-hours (CPU: wall x request_cpus) or GPU-hours (wall x request_gpus, at least 1)."""


def read_timings(path: Path) -> Timings:
    """Timings of a summary.csv (or a folder holding one); DataError naming the file."""
    path = path / "summary.csv" if path.is_dir() else path
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot read measured timings: {err}") from None
    missing = [c for c in _REQUIRED if not rows or c not in rows[0]]
    if missing:
        raise DataError(
            f"{path}: expected a summary.csv of `aggregate` (or bench_speed.py --csv) with "
            f"columns {', '.join(_REQUIRED)}; missing {', '.join(missing)}"
        )
    ratios: dict[tuple[str, str], list[float]] = {}
    epochs: dict[tuple[str, str], list[float]] = {}
    skipped = 0
    for row in rows:
        measured = _measurement(row)
        if measured is None:
            skipped += 1
            continue
        key, ratio, ran = measured
        ratios.setdefault(key, []).append(ratio)
        if ran is not None:
            epochs.setdefault(key, []).append(ran)
    speeds = {
        key: DeviceSpeed(
            len(values),
            _median(values),
            _median(epochs[key]) if key in epochs else None,
        )
        for key, values in ratios.items()
    }
    return Timings(path, speeds, skipped)


def _measurement(row: Mapping[str, str]) -> tuple[tuple[str, str], float, float | None] | None:
    """((model, device kind), measured / modelled seconds per epoch, epochs run) of one row."""
    model, device = row.get("model", ""), row.get("device", "")
    kind = device.split(":", 1)[0].strip()
    if row.get("status", "ok") != "ok" or model not in MODEL_TYPES or kind not in DEVICE_KINDS:
        return None
    seconds, ran = _positive(row.get("seconds_per_epoch")), _positive(row.get("epochs_run"))
    if seconds is None:
        return None
    try:
        config = _config_of(row)
    except ConfigError:
        return None
    return (model, kind), seconds / epoch_seconds(config), ran


def _config_of(row: Mapping[str, str]) -> TrainConfig:
    keys = set(flat_keys(row["model"]))
    flat = {k: v for k, v in row.items() if k in keys and v not in ("", None)}
    if "encoding" in flat:  # summary.csv joins an encoding list with "+"
        flat["encoding"] = flat["encoding"].replace("+", ",")
    return TrainConfig.from_flat(flat, source="timings")


def _positive(text: str | None) -> float | None:
    try:
        value = float(text) if text else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def device_costs(timings: Timings, batches: Sequence[PlannedBatch]) -> list[DeviceCost]:
    """Per model type of the plan and device kind with measurements: the planned cost."""
    by_model: dict[str, list[PlannedBatch]] = {}
    for batch in batches:
        by_model.setdefault(batch.trainings[0].config.model, []).append(batch)
    costs = []
    for model, model_batches in by_model.items():
        for kind in DEVICE_KINDS:
            speed = timings.speed(model, kind)
            if speed is not None:
                costs.append(_device_cost(model, kind, speed, model_batches))
    return costs


def _median(values: Sequence[float]) -> float:
    """statistics.median, imported on first use: only --timings needs it, and its import
    (fractions, decimal) costs every `run_builder` command about 10 ms."""
    import statistics

    return statistics.median(values)


def _device_cost(
    model: str, kind: str, speed: DeviceSpeed, batches: Sequence[PlannedBatch]
) -> DeviceCost:
    wall = charged = 0.0
    per_epoch = []
    for batch in batches:
        slots = max(1, batch.resources.gpus) if kind == "gpu" else batch.resources.cpus
        for training in batch.trainings:
            seconds = speed.speed_factor * epoch_seconds(training.config)
            epochs = speed.epochs or expected_epochs(training.config)
            hours = seconds * min(epochs, training.config.optim.max_epochs) / 3600
            per_epoch.append(seconds)
            wall += hours
            charged += hours * slots
    return DeviceCost(model, kind, len(per_epoch), _median(per_epoch), wall, charged)


def cost_lines(timings: Timings, costs: Sequence[DeviceCost], gpu_hour_cost: float) -> list[str]:
    """The --dry-run table of measured-speed estimates and, per model type measured on both
    device kinds, which request is cheaper at `gpu_hour_cost` core-hours per GPU-hour."""
    measured = sum(s.trainings for s in timings.speeds.values())
    lines = [f"measured speed: {timings.source} ({measured:,} trainings)"]
    if timings.skipped:
        lines.append(
            f"  {timings.skipped:,} rows left out (not ok, no cpu/gpu device, or no positive "
            "seconds_per_epoch)"
        )
    if not costs:
        return [*lines, "  no measurement of this plan's model types"]
    lines.append(
        f"{'model':<8} {'device':<6} {'s/epoch':>9} {'wall-hours':>11} {'per training':>12} "
        f"{'charged':>10}"
    )
    for c in costs:
        unit = "GPU-hours" if c.kind == "gpu" else "core-hours"
        lines.append(
            f"{c.model:<8} {c.kind:<6} {c.seconds_per_epoch:>9.2f} {c.wall_hours:>11,.1f} "
            f"{c.charged_hours / c.trainings:>12,.2f} {c.charged_hours:>10,.1f} {unit}"
        )
    for model in dict.fromkeys(c.model for c in costs):
        both = {c.kind: c for c in costs if c.model == model}
        if len(both) == 2:
            cpu, gpu = both["cpu"].charged_hours, both["gpu"].charged_hours * gpu_hour_cost
            cheaper = "cpu" if cpu <= gpu else "gpu"
            lines.append(
                f"{model}: the {cheaper} request is cheaper ({cpu:,.1f} core-hours on CPUs vs "
                f"{gpu:,.1f} core-hour equivalents on GPUs at {gpu_hour_cost:g} per GPU-hour)"
            )
    return lines
