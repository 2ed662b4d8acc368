"""GPU jobs on a machine without a GPU: a training granted GPUs that TensorFlow cannot see
fails at once with error.json naming what was found, unless the CPU fallback is allowed; every
training records its device. (No GPU is reachable here: these are the GPU code paths on CPU.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmsweep._tf import keras
from dmsweep.config import PRECISIONS, TrainConfig
from dmsweep.jobfiles import ERROR, METRICS, PROVENANCE
from dmsweep.models import ModelInputs, build_model, precision_policy, predict_scores
from dmsweep.train.devices import ASSIGNED_GPUS_ENV, requested_gpus

QUICK = ["--set", "split=random", "--set", "max_variants=500", "--set", "max_epochs=1"]


def _train(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    dmsweep = str(Path(sys.executable).with_name("dmsweep"))
    command = [dmsweep, "train", "--quiet", "-o", str(tmp_path / "out")]
    return subprocess.run(
        [*command, *QUICK, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=tmp_path,
    )


def _only_job(tmp_path: Path) -> Path:
    (folder,) = (tmp_path / "out").iterdir()
    return folder


def test_granted_gpus_come_from_the_flag_the_job_ad_or_condor(monkeypatch) -> None:
    monkeypatch.delenv(ASSIGNED_GPUS_ENV, raising=False)
    assert requested_gpus(ad={}) == 0
    assert requested_gpus(2, ad={"RequestGPUs": "1"}) == 2
    assert requested_gpus(ad={"RequestGPUs": "1"}) == 1
    monkeypatch.setenv(ASSIGNED_GPUS_ENV, "CUDA0,CUDA1")
    assert requested_gpus(ad={}) == 2


def test_a_job_ad_granting_a_gpu_tensorflow_cannot_see_fails_with_error_json(
    tmp_path: Path, data_dir: Path
) -> None:
    ad = tmp_path / ".job.ad"
    ad.write_text("RequestGPUs = 1\nRequestCpus = 1\nClusterId = 7\nProcId = 0\n")
    env = {
        "_CONDOR_JOB_AD": str(ad),
        "CUDA_VISIBLE_DEVICES": "0",
        "DMSWEEP_DATA_DIR": str(data_dir),
    }
    done = _train(tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    folder = _only_job(tmp_path)
    error = json.loads((folder / ERROR).read_text())
    assert (error["type"], error["phase"]) == ("TrainingError", "devices")
    assert "granted 1 GPU(s) but TensorFlow sees none" in error["message"]
    assert "CUDA_VISIBLE_DEVICES='0'" in error["message"]
    assert not (folder / METRICS).exists()
    assert "FAILED: TrainingError: granted 1 GPU(s)" in done.stderr


def test_gpus_flag_is_checked_like_every_count(tmp_path: Path) -> None:
    done = _train(tmp_path, "--gpus", "-1")
    assert done.returncode == 2 and "--gpus: expected an integer >= 0" in done.stderr


@pytest.mark.slow
def test_the_cpu_fallback_trains_and_says_so(tmp_path: Path, data_dir: Path) -> None:
    env = {"DMSWEEP_DATA_DIR": str(data_dir)}
    done = _train(tmp_path, "--gpus", "1", "--allow-cpu-fallback", env=env)
    assert done.returncode == 0, done.stderr
    device = json.loads((_only_job(tmp_path) / PROVENANCE).read_text())["device"]
    assert device["kind"] == "cpu" and device["cpu_fallback"] is True
    assert device["gpus_requested"] == 1 and device["gpus"] == []
    assert device["threads"] >= 1 and device["label"] == device["cpu"]


@pytest.mark.slow
def test_every_training_records_its_device(tmp_path: Path, data_dir: Path) -> None:
    done = _train(tmp_path, env={"DMSWEEP_DATA_DIR": str(data_dir)})
    assert done.returncode == 0, done.stderr
    device = json.loads((_only_job(tmp_path) / PROVENANCE).read_text())["device"]
    assert device["kind"] == "cpu" and device["cpu_fallback"] is False
    assert device["gpus_requested"] == 0 and device["cpu"]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_model_builds_and_trains_under_mixed_precision_with_a_float32_output(
    precision: str,
) -> None:
    """The GPU code path of `precision:` on the CPU: each model type builds, takes a training
    step and scores in float32 (the graph product casts around TensorFlow's CSR kernel), and
    the process-wide policy is float32 again afterwards."""
    length, rng = 24, np.random.default_rng(0)
    adjacency = (rng.random((length, length)) < 0.2).astype(np.float32)
    inputs = ModelInputs(
        table=rng.random((21, 40)).astype(np.float32),
        length=length,
        adjacency=np.maximum(adjacency, adjacency.T),
    )
    codes = rng.integers(0, 21, (16, length)).astype(np.int8)
    scores = rng.random(16).astype(np.float32)
    for flat in (
        {"model": "linear"},
        {"model": "fc", "units": 8},
        {"model": "cnn", "filters": 4, "layers": 2, "dense_units": 8},
        {"model": "gcn", "filters": 4, "layers": 3, "pooling": "attention", "dense_units": 8},
        {"model": "gcn", "filters": 64, "layers": 2, "dense_units": 8},  # wider than the table
    ):
        with precision_policy(precision):
            model = build_model(TrainConfig.from_flat(flat).params, inputs)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        assert keras.mixed_precision.global_policy().name == "float32"
        first = model.get_layer("graphconv1" if flat["model"] == "gcn" else "encoding")
        assert first.compute_dtype == precision.removeprefix("mixed_")
        loss = model.fit(codes, scores, epochs=1, verbose=0).history["loss"][0]
        predicted = predict_scores(model, codes)
        assert np.isfinite(loss) and predicted.dtype == np.float32 and np.isfinite(predicted).all()


def test_mixed_precision_on_the_cpu_fails_at_once_saying_why(tmp_path: Path) -> None:
    done = _train(tmp_path, "--set", "precision=mixed_bfloat16")
    assert done.returncode == 1, done.stderr
    error = json.loads((_only_job(tmp_path) / ERROR).read_text())
    assert error["phase"] == "devices"
    assert error["message"].startswith("precision mixed_bfloat16 needs a GPU, and this training")


def test_device_label_counts_the_gpus_of_a_data_parallel_training():
    """The job id names the config, not the devices: the aggregate's device column tells a
    training on two GPUs (twice the global batch) from one on a single GPU."""
    from dmsweep.train.devices import DeviceRecord, GPUInfo

    a100 = GPUInfo(name="NVIDIA A100", compute_capability="8.0")
    one = DeviceRecord(kind="gpu", cpu="AMD EPYC", threads=8, gpus=(a100,), gpus_requested=1)
    two = DeviceRecord(kind="gpu", cpu="AMD EPYC", threads=8, gpus=(a100, a100), gpus_requested=2)
    cpu = DeviceRecord(kind="cpu", cpu="AMD EPYC", threads=8)
    assert (one.label, two.label, cpu.label) == ("NVIDIA A100", "NVIDIA A100 x2", "AMD EPYC")
    assert two.to_json()["label"] == "NVIDIA A100 x2"
    # granted one, seeing two (a node that does not hide the others): trains on one
    seen_two = DeviceRecord(
        kind="gpu", cpu="AMD EPYC", threads=8, gpus=(a100, a100), gpus_requested=1
    )
    assert (seen_two.replicas, seen_two.label) == (1, "NVIDIA A100")
    unknown = DeviceRecord(kind="gpu", cpu="AMD EPYC", threads=8, gpus=(a100, a100))
    assert (unknown.replicas, unknown.label) == (2, "NVIDIA A100 x2")  # no grant known: all
    assert cpu.replicas == 0
