"""Data-parallel training: one step on two replicas (two logical CPU devices, in a fresh
process: they must be set before TensorFlow's first op) equals one step on one device with the
same global batch, for fc and plm, and for the protein-set cnn and gcn (attention pooling) on
the shared structures through the protein-set pipeline; one device means no strategy; the
learning-rate rule."""

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
from dmsweep.train.job import compiled_model, seed_everything

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

PROTEIN_STEP = """
import json, sys
import numpy as np
from dmsweep._tf import tf, keras
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tempfile
from dataclasses import replace
from pathlib import Path
from dmsweep.config import TrainConfig
from dmsweep.data import encoding_table
from dmsweep.data.protein_batches import protein_table
from dmsweep.data.proteins import open_protein_source
from dmsweep.db.ingest import ingest_records
from dmsweep.db.memory import MemoryStore
from dmsweep.db.stream import summarise_collection
from dmsweep.models import load_model, save_model
from dmsweep.models.proteins import protein_probabilities
from dmsweep.train.job import seed_everything
from dmsweep.train.parallel import Parallel
from dmsweep.train.protein_set import Batches, ProteinSet, graph_spec
from dmsweep.train.protein_training import compiled_protein_model

flat, data_dir, global_batch = json.loads(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
# the shared structures (57-501 residues), labelled by size: one padded batch of global_batch
records = [
    replace(r, labels={"size": "long" if len(r.sequence) > 200 else "short"}, split="train")
    for r in open_protein_source(str(data_dir / "structures"))
][:global_batch]
store = MemoryStore("structures")
ingest_records(store, "s", records)
pset = ProteinSet(store, "s", {"size": ["short", "long"]}, summarise_collection(store, "s"), {})
task = pset.task("size")
table = protein_table(encoding_table(("one_hot",)))
# all of them in one batch, the evaluation's way (ProteinJob._evaluate: arrays, model called)
whole = Batches(pset, task, graph_spec(TrainConfig.from_flat(flat)), None, global_batch)
(_, inputs, _), = whole.arrays("train")

def one_step(parallel, start=None):
    config = TrainConfig.from_flat({**flat, "batch_size": global_batch // parallel.replicas})
    seed_everything(1)
    model = compiled_protein_model(config, table, task, parallel)
    if start is not None:
        model.set_weights(start)
    first = model.get_weights()
    batches = Batches(pset, task, graph_spec(config), None, parallel.global_batch(config))
    model.fit(batches.dataset("train"), epochs=1, verbose=0)
    return first, model.get_weights(), protein_probabilities(model, inputs, task), model

start, single, p_single, _ = one_step(Parallel())
two = Parallel.over(["/cpu:0", "/cpu:1"])
_, mirrored, p_mirrored, model = one_step(two, start)
moved = max(float(np.abs(a - b).max()) for a, b in zip(start, single))
apart = max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored))
predicted_apart = float(np.abs(p_single - p_mirrored).max())
# the job's model file, saved from under the strategy, loads and predicts the same
with tempfile.TemporaryDirectory() as folder:
    save_model(model, Path(folder) / "model.keras")
    loaded = load_model(Path(folder) / "model.keras")
    reloaded_apart = float(np.abs(protein_probabilities(loaded, inputs, task) - p_mirrored).max())
# what each replica got of the padded batch (fit distributes the dataset the same way)
_, targets = next(iter(two.strategy.experimental_distribute_dataset(whole.dataset("train"))))
rows = [int(t.shape[0]) for t in two.strategy.experimental_local_results(targets)]
print(json.dumps({"moved": moved, "apart": apart, "replica_rows": rows,
                  "predicted_apart": predicted_apart, "reloaded_apart": reloaded_apart}))
"""


def _one_step_apart(flat: dict, data_dir: Path, script: str = STEP, batch: int = 32) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(flat), str(data_dir), str(batch)],
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


@pytest.mark.slow
@pytest.mark.parametrize(
    "flat",
    [
        {"model": "cnn", "layers": 2, "filters": 16, "kernel_size": 5},
        {"model": "gcn", "graph": "knn", "k": 8, "pooling": "attention", "filters": 16},
    ],
    ids=["cnn", "gcn"],
)
def test_two_replicas_step_as_one_device_protein_set(flat: dict, data_dir: Path) -> None:
    """Four real structures of different lengths in one padded batch: two per replica."""
    flat = {**flat, "dense_units": 16, "dropout": 0.0, "encoding": "one_hot",
            "learning_rate": 1e-3}  # fmt: skip
    out = _one_step_apart(flat, data_dir, PROTEIN_STEP, batch=4)
    assert out["replica_rows"] == [2, 2]  # the batch was split, not copied to each replica
    assert out["moved"] > 1e-4
    assert out["apart"] < 1e-5
    assert out["predicted_apart"] < 1e-5  # the mirrored model evaluates as the job does
    assert out["reloaded_apart"] < 1e-6  # and its saved file predicts the same


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
