"""Data-parallel training: one step on two replicas (two logical CPU devices, in a fresh
process: they must be set before TensorFlow's first op) equals one step on one device with the
same global batch, for fc and plm; one device means no strategy; the learning-rate rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_pretrain import write_gfp_fasta

from dmsweep.config import TrainConfig
from dmsweep.errors import ConfigError
from dmsweep.train.devices import DeviceRecord, GPUInfo
from dmsweep.train.parallel import Parallel, replica_devices

STEP = """
import json, sys
import numpy as np
from dmsweep._tf import tf, keras
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pathlib import Path
from dmsweep.config import TrainConfig
from dmsweep.data import encoding_table, load_dataset
from dmsweep.data.source import DataSource
from dmsweep.models import ModelInputs
from dmsweep.train.parallel import Parallel
from dmsweep.train.trainer import compiled_model, seed_everything

flat, data_dir, global_batch = json.loads(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
gfp = load_dataset("avgfp", source=DataSource.resolve(data_dir))
codes, scores = gfp.codes[:global_batch], gfp.scores[:global_batch]
pretrained = Path(flat["pretrained"]) if "pretrained" in flat else None
inputs = ModelInputs(encoding_table(("one_hot",)), codes.shape[1], None, pretrained)

def one_step(parallel, start=None):
    config = TrainConfig.from_flat({**flat, "batch_size": global_batch // parallel.replicas})
    seed_everything(1)
    model = compiled_model(config, inputs, 10 * global_batch, parallel)
    if start is not None:
        model.set_weights(start)
    first = model.get_weights()
    batches = tf.data.Dataset.from_tensor_slices((codes, scores)).batch(global_batch)
    model.fit(batches, epochs=1, verbose=0)
    return first, model.get_weights()

start, single = one_step(Parallel())
_, mirrored = one_step(Parallel.over(["/cpu:0", "/cpu:1"]), start)
moved = max(float(np.abs(a - b).max()) for a, b in zip(start, single))
apart = max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored))
print(json.dumps({"moved": moved, "apart": apart}))
"""


def _one_step_apart(flat: dict, data_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", STEP, json.dumps(flat), str(data_dir), "32"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    print(f"{flat['model']}: one step moved weights by up to {out['moved']:.3g}; one vs two "
          f"replicas up to {out['apart']:.3g} apart")  # fmt: skip
    return out


@pytest.mark.slow
def test_two_replicas_step_as_one_device_fc(data_dir: Path) -> None:
    flat = {"model": "fc", "layers": 2, "units": 32, "dropout": 0.0, "encoding": "one_hot",
            "learning_rate": 1e-3}  # fmt: skip
    out = _one_step_apart(flat, data_dir)
    assert out["moved"] > 1e-4  # the step changed the weights
    assert out["apart"] < 1e-5


@pytest.mark.slow
def test_two_replicas_step_as_one_device_plm(data_dir: Path, tmp_path: Path) -> None:
    from dmsweep.train.pretrain import PretrainOptions, pretrain

    fasta = write_gfp_fasta(data_dir, tmp_path / "gfp.fasta", n=20)
    folder = pretrain(PretrainOptions(fasta=fasta, output=tmp_path / "tiny", max_length=240))
    config_file = folder.output / "config.json"
    config = json.loads(config_file.read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config_file.write_text(json.dumps(config))
    # Adam's first step is about lr x g / |g| per weight: a rounding difference in a gradient
    # near 0 shows at the learning rate's scale (1.1e-5 apart at lr 1e-3, seen), so 1e-4 here
    flat = {"model": "plm", "pretrained": str(folder.output), "dropout": 0.0,
            "learning_rate": 1e-4, "warmup_fraction": 0.0, "pooling": "mean"}  # fmt: skip
    out = _one_step_apart(flat, data_dir)
    assert out["moved"] > 2e-5
    assert out["apart"] < 1e-5


def test_one_device_means_no_strategy_and_the_learning_rate_rule() -> None:
    config = TrainConfig.from_flat({"model": "fc", "batch_size": 64, "learning_rate": 1e-3})
    linear = config.replace(lr_scaling="linear")
    assert Parallel.over(["/gpu:0"]).strategy is None and Parallel.over([]).replicas == 1
    two = Parallel(strategy=object(), replicas=2)
    assert two.global_batch(config) == 128
    assert two.learning_rate(config) == 1e-3 and two.learning_rate(linear) == 2e-3
    assert config.replace(lr_scaling="none").job_id == config.job_id  # none is the default
    with pytest.raises(ConfigError, match=r"lr_scaling: expected one of \['none', 'linear'\]"):
        config.replace(lr_scaling="sqrt")
    gpus = (GPUInfo("A100"), GPUInfo("A100"), GPUInfo("A100"))
    record = DeviceRecord(kind="gpu", cpu="x", threads=2, gpus=gpus, gpus_requested=2)
    assert replica_devices(record) == ["/gpu:0", "/gpu:1"]
    assert replica_devices(DeviceRecord(kind="cpu", cpu="x", threads=2)) == []
