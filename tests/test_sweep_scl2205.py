"""sweeps/scl2205.yaml: a classification sweep over a protein set, planned, run with
run-local and aggregated (tune log loss selection, test accuracy, a confusion matrix, per-class
columns)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from dmsweep.data.source import DataSource
from dmsweep.errors import ConfigError
from dmsweep.run_builder.plan import plan_file

SPEC = Path(__file__).resolve().parents[1] / "sweeps" / "scl2205.yaml"


def test_scl2205_spec_plans_four_cnn_classifiers(data_dir):
    planned = plan_file(SPEC, data=DataSource.resolve(data_dir))
    assert planned.card.name == "scl2205"
    configs = [t.config for t in planned.trainings]
    assert len(configs) == 4 and {c.model for c in configs} == {"cnn"}
    assert sorted(str(c.optim.class_weight) for c in configs) == [
        "None",
        "None",
        "balanced",
        "balanced",
    ]
    assert planned.data_files() == {}  # the data ships in p-scldata, in the job's environment


def test_a_protein_set_sweep_refuses_fixed_length_models(tmp_path, data_dir):
    spec = yaml.safe_load(SPEC.read_text())
    spec["models"] = {"fc": {}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=r"models\.fc: model 'fc' needs one sequence length"):
        plan_file(path, data=DataSource.resolve(data_dir))


@pytest.mark.slow
def test_scl2205_sweep_runs_locally_and_aggregates(tmp_path, data_dir, monkeypatch, capsys):
    from dmsweep.aggregate.cli import main as aggregate
    from dmsweep.run_builder.cli import main as run_builder

    monkeypatch.setenv("DMSWEEP_DATA_DIR", str(data_dir))
    runs = tmp_path / "runs"
    assert run_builder([str(SPEC), "-o", str(runs), "--name", "scl"]) == 0
    assert run_builder(["run-local", str(runs / "scl"), "-j", "2", "--no-progress"]) == 0
    assert "4 trainings: 4 done" in capsys.readouterr().out
    assert aggregate([str(runs / "scl"), "--no-progress"]) == 0
    summary = runs / "scl" / "summary"
    with open(summary / "best.csv") as stream:
        (best,) = list(csv.DictReader(stream))
    assert "tune_log_loss_mean" in best and 0 < float(best["test_accuracy"]) <= 1
    with open(summary / "summary.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 4 and all(r["task"] == "multiclass" for r in rows)
    assert {"test_f1_Nucleus", "test_recall_Nucleus", "test_n_Nucleus"} <= set(rows[0])
    assert sum(int(rows[0][f"test_n_{c}"]) for c in ("Nucleus", "Cytoplasm")) > 0
    plots = {p.name for p in (summary / "plots").iterdir()}
    assert "confusion_cnn.png" in plots and "effects_cnn.png" in plots
    assert not any(p.startswith("predicted_vs_true") for p in plots)
