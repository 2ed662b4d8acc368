"""`run_builder SPEC --dry-run --timings CSV`: CPU- and GPU-hours from measured speed."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from dmsweep.config import FCParams, LinearParams, OptimConfig, TrainConfig
from dmsweep.data.source import DataSource
from dmsweep.errors import DataError
from dmsweep.run_builder.cli import main
from dmsweep.run_builder.estimate import epoch_seconds, expected_epochs
from dmsweep.run_builder.plan import plan_file
from dmsweep.run_builder.timings import device_costs, read_timings

SPEC = """\
name: timed
dataset: avgfp
models: {linear: {}, fc: {}}
resources: {default: {cpus: 2}, fc: {gpus: 1}}
fixed: {split: main, max_epochs: 40, patience: 5}
grid: {seed: [1, 2, 3]}
"""
LINEAR = TrainConfig(params=LinearParams(), optim=OptimConfig(batch_size=128))
FC = TrainConfig(params=FCParams(units=50), optim=OptimConfig(batch_size=32))


def _row(config: TrainConfig, device: str, factor: float, **extra: object) -> dict[str, object]:
    """A summary.csv row whose measured seconds per epoch are `factor` x the modelled ones."""
    flat = {k: "+".join(v) if isinstance(v, list) else v for k, v in config.to_flat().items()}
    seconds = factor * epoch_seconds(config)
    return {**flat, "status": "ok", "device": device, "seconds_per_epoch": seconds, **extra}


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def timings_csv(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "summary.csv",
        [
            _row(LINEAR, "cpu: AMD EPYC", 2.0, epochs_run=20),
            _row(LINEAR, "cpu: AMD EPYC", 4.0, epochs_run=30),
            _row(LINEAR, "cpu: AMD EPYC", 3.0, epochs_run=25),
            _row(FC, "cpu: AMD EPYC", 1.0),
            _row(FC, "gpu: NVIDIA A100", 0.05),
            _row(FC, "gpu: NVIDIA A100", 1e-9, status="failed"),
            _row(FC, "", 1e-9),
            _row(FC, "cpu: AMD EPYC", 1e-9, seconds_per_epoch=""),
        ],
    )


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "timed.yaml"
    path.write_text(SPEC)
    return path


def test_medians_per_model_and_device_calibrate_the_cost_model(timings_csv: Path) -> None:
    timings = read_timings(timings_csv.parent)  # a summary folder works as well as the file
    assert timings.skipped == 3  # failed, no device, no seconds per epoch
    linear = timings.speed("linear", "cpu")
    assert linear is not None and linear.trainings == 3
    assert linear.speed_factor == pytest.approx(3.0) and linear.epochs == 25
    gpu = timings.speed("fc", "gpu")
    assert gpu is not None and gpu.speed_factor == pytest.approx(0.05) and gpu.epochs is None
    assert timings.speed("linear", "gpu") is None


def test_planned_cost_scales_measured_speed_to_the_planned_configs(
    timings_csv: Path, spec: Path, data_dir: Path
) -> None:
    planned = plan_file(spec, data=DataSource.resolve(data_dir))
    costs = {(c.model, c.kind): c for c in device_costs(read_timings(timings_csv), planned.batches)}
    assert set(costs) == {("linear", "cpu"), ("fc", "cpu"), ("fc", "gpu")}
    config = next(t.config for t in planned.trainings if t.config.model == "linear")
    linear = costs["linear", "cpu"]
    assert linear.seconds_per_epoch == pytest.approx(3.0 * epoch_seconds(config))
    assert linear.wall_hours == pytest.approx(3 * linear.seconds_per_epoch * 25 / 3600)
    assert linear.charged_hours == pytest.approx(2 * linear.wall_hours)  # request_cpus 2
    assert linear.trainings == 3
    fc = next(t.config for t in planned.trainings if t.config.model == "fc")
    gpu = costs["fc", "gpu"]
    assert gpu.wall_hours == pytest.approx(
        3 * 0.05 * epoch_seconds(fc) * expected_epochs(fc) / 3600
    )
    assert gpu.charged_hours == pytest.approx(gpu.wall_hours)  # request_gpus 1


def test_dry_run_says_which_request_is_cheaper(timings_csv, spec, data_dir, capsys) -> None:
    args = [str(spec), "--dry-run", "--data-dir", str(data_dir), "--timings", str(timings_csv)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"measured speed: {timings_csv} (5 trainings)" in out
    assert "  3 rows left out (not ok, no cpu/gpu device" in out
    assert re.search(r"^fc\s+gpu(\s+[\d.]+){4} GPU-hours$", out, flags=re.M)
    assert "fc: the gpu request is cheaper" in out  # 20x faster, at 10 core-hours per GPU-hour
    assert main([*args, "--gpu-hour-cost", "40"]) == 0
    assert "fc: the cpu request is cheaper" in capsys.readouterr().out
    assert "linear: the" not in out  # measured on one device kind only: no comparison


def test_a_file_without_the_columns_is_one_line(tmp_path, spec, data_dir, capsys) -> None:
    bad = tmp_path / "other.csv"
    bad.write_text("job_id,status\nx,ok\n")
    with pytest.raises(DataError, match=r"other\.csv: .*missing model, device, seconds_per_epoch"):
        read_timings(bad)
    args = [str(spec), "--dry-run", "--data-dir", str(data_dir), "--timings", str(bad)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other.csv" in err
    assert main([*args[:1], "--data-dir", str(data_dir), "--timings", str(bad)]) == 2
    assert "--timings: only with --dry-run" in capsys.readouterr().err
    assert main([str(spec), "--data-dir", str(data_dir), "--gpu-hour-cost", "5"]) == 2
    assert "--gpu-hour-cost: only with --dry-run" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--gpu-hour-cost", "0"])
    assert exit_.value.code == 2 and "expected a finite number > 0" in capsys.readouterr().err
