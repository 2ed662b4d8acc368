"""run_trainings on small real avGFP subsets: the job contract, failures, skips, seeds, predict."""

from __future__ import annotations

import csv
import json
from importlib.metadata import version

import numpy as np
import pytest

from dmsweep.config import TrainConfig
from dmsweep.core.results import judge_folder, verify_files
from dmsweep.jobfiles import (
    CONFIG,
    ERROR,
    HISTORY,
    METRICS,
    PREDICTIONS,
    PROVENANCE,
    TMP_PREFIX,
    JobPaths,
)
from dmsweep.jobfiles import SPLIT as SPLIT_FILE
from dmsweep.train import RunOptions, run_trainings
from dmsweep.train.predict import TrainedJob, VariantInput

pytestmark = pytest.mark.slow

QUICK = {"split": "random", "max_variants": 2000, "max_epochs": 3, "seed": 3}
LINEAR = TrainConfig.from_flat({"model": "linear", "learning_rate": 1e-2, **QUICK})
GCN_ATTENTION = TrainConfig.from_flat(
    {"model": "gcn", "layers": 1, "filters": 8, "dense_units": 16, "pooling": "attention", **QUICK}
)
CNN_TOO_DEEP = TrainConfig.from_flat({"model": "cnn", "layers": 10, "kernel_size": 25, **QUICK})
EMPTY_TUNE = TrainConfig.from_flat(
    {"model": "fc", "split": "random", "max_variants": 20, "tune_fraction": 0.01, "max_epochs": 2}
)
METRIC_KEYS = {"mse", "pearson", "spearman", "r2", "n"}
RANKING_KEYS = {"top20_overlap", "top100_overlap", "ndcg100"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """One process trains four configs in sequence, two of which fail for real reasons."""
    root = tmp_path_factory.mktemp("results")
    options = RunOptions(output_root=root, data_dir=data_dir, threads=None, verbose=False)
    configs = [LINEAR, CNN_TOO_DEEP, EMPTY_TUNE, GCN_ATTENTION]
    outcomes = run_trainings(configs, options=options, command=["pytest"])
    return root, options, {o.job_id: o for o in outcomes}


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_outcomes_in_order(trained) -> None:
    _, _, outcomes = trained
    assert list(outcomes) == [c.job_id for c in (LINEAR, CNN_TOO_DEEP, EMPTY_TUNE, GCN_ATTENTION)]
    assert [o.ok for o in outcomes.values()] == [True, False, False, True]


def test_folder_is_complete_per_contract(trained) -> None:
    root, _, _ = trained
    paths = JobPaths(root / LINEAR.job_id)
    for path in (paths.config, paths.metrics, paths.predictions, paths.history, paths.provenance):
        assert path.is_file(), path
    assert paths.model_file.is_file() and (paths.root / SPLIT_FILE).is_file()
    assert not paths.error.exists()
    assert not [p for p in root.iterdir() if p.name.startswith(TMP_PREFIX)]
    verdict = judge_folder(paths.root)
    assert verdict.valid_for(LINEAR.job_id), verdict.detail
    listed = set(verdict.result.manifest.files)
    assert {"model/model.keras", "predictions.csv", "history.csv", SPLIT_FILE} <= listed
    assert verify_files(paths.root, verdict.result.manifest, full=True) is None

    config = read_json(paths.config)
    assert config == {**LINEAR.to_flat(), "job_id": LINEAR.job_id}

    metrics = read_json(paths.metrics)
    assert metrics["job_id"] == LINEAR.job_id
    assert set(metrics["splits"]["train"]) == METRIC_KEYS
    assert (
        set(metrics["splits"]["test"])
        == set(metrics["splits"]["tune"])
        == (METRIC_KEYS | RANKING_KEYS)
    )
    sizes = {part: metrics["splits"][part]["n"] for part in ("train", "tune", "test")}
    assert sizes == {"train": 1600, "tune": 200, "test": 200}
    phases = {"devices", "load_data", "build_model", "train", "evaluate", "total"}
    assert set(metrics["timings"]) == phases
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] <= 3
    assert metrics["n_parameters"] == 237 * 40 + 1
    assert metrics["seconds_per_epoch"] > 0 and metrics["peak_memory_mb"] > 100

    with open(paths.history, newline="") as stream:
        history = list(csv.DictReader(stream))
    assert [int(r["epoch"]) for r in history] == list(range(1, metrics["epochs_run"] + 1))
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])

    with open(paths.predictions, newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["variant", "true_score", "predicted_score"] and len(rows) == 201

    with np.load(paths.root / SPLIT_FILE) as split:
        assignment = split["assignment"]
    assert assignment.shape == (54024,)
    assert np.bincount(assignment, minlength=4).tolist() == [52024, 1600, 200, 200]


def test_provenance(trained, data_dir) -> None:
    root, _, _ = trained
    prov = read_json(root / LINEAR.job_id / PROVENANCE)
    assert prov["seeds"] == {"job": 3, "python": 3, "numpy": 3, "tensorflow": 3, "split": 0}
    assert prov["command"] == ["pytest"]
    assert prov["libraries"]["tensorflow"] == version("tensorflow")
    assert prov["libraries"]["tf-keras"] == version("tf-keras")
    assert prov["start_time"] <= prov["end_time"]
    assert set(prov["split_checksums"]) == {"train", "tune", "test"}
    assert prov["data_files"]["avgfp.tsv"].startswith("sha256:")
    assert "aaindex/pca-19.npy" in prov["data_files"]
    assert prov["threads"] >= 1 and "condor" in prov


def test_failed_trainings_leave_error_json(trained) -> None:
    root, _, outcomes = trained
    for config, phase, words in [
        (CNN_TOO_DEEP, "build_model", "do not fit a sequence"),
        (EMPTY_TUNE, "load_data", "empty part"),
    ]:
        paths = JobPaths(root / config.job_id)
        assert (
            judge_folder(paths.root).status == "failed"
            and paths.config.is_file()
            and paths.provenance.is_file()
        )
        error = read_json(paths.error)
        assert error["phase"] == phase and words in error["message"]
        assert error["job_id"] == config.job_id and error["traceback_tail"]
        assert read_json(paths.provenance)["end_time"] is not None
        assert words in outcomes[config.job_id].error


def test_valid_results_are_skipped_unless_forced(trained) -> None:
    root, options, _ = trained
    metrics = root / LINEAR.job_id / METRICS
    before = metrics.stat().st_mtime_ns
    again = run_trainings([LINEAR, CNN_TOO_DEEP], options=options)
    assert again[0].skipped and again[0].ok
    assert not again[1].skipped and not again[1].ok  # a failed job is retried
    assert metrics.stat().st_mtime_ns == before


def test_same_seed_same_metrics(trained, tmp_path, data_dir) -> None:
    root, _, _ = trained
    options = RunOptions(output_root=tmp_path, data_dir=data_dir, verbose=False)
    (outcome,) = run_trainings([LINEAR], options=options)
    first = read_json(root / LINEAR.job_id / METRICS)["splits"]
    second = read_json(outcome.path / METRICS)["splits"]
    for part in first:
        for key, value in first[part].items():
            assert second[part][key] == pytest.approx(value, rel=1e-6, abs=1e-7), (part, key)


@pytest.mark.parametrize("config", [LINEAR, GCN_ATTENTION], ids=["linear", "gcn_attention"])
def test_predict_reproduces_saved_test_predictions(trained, data_dir, config) -> None:
    root, _, _ = trained
    with open(root / config.job_id / PREDICTIONS, newline="") as stream:
        rows = list(csv.DictReader(stream))
    job = TrainedJob(root / config.job_id, data_dir=data_dir)
    given = VariantInput([r["variant"] for r in rows], "predictions.csv", 2, "line")
    prediction = job.predict(given, attention=config is GCN_ATTENTION)
    saved = np.array([float(r["predicted_score"]) for r in rows])
    np.testing.assert_allclose(prediction.scores, saved, rtol=0, atol=1e-5)
    if config is GCN_ATTENTION:
        assert prediction.attention.shape == (200, 237)
        assert prediction.attention_columns[:2] == ("attention_S0", "attention_K1")


def test_predict_refuses_failed_job(trained, data_dir) -> None:
    root, _, _ = trained
    with pytest.raises(Exception, match="this training failed"):
        TrainedJob(root / CNN_TOO_DEEP.job_id, data_dir=data_dir)


def test_nothing_but_job_folders(trained) -> None:
    root, _, _ = trained
    names = sorted(p.name for p in root.iterdir())
    expected = sorted(c.job_id for c in (LINEAR, CNN_TOO_DEEP, EMPTY_TUNE, GCN_ATTENTION))
    assert names == expected
    for name in names:
        assert (root / name / CONFIG).is_file()
        assert (root / name / METRICS).is_file() != (root / name / ERROR).is_file()
    assert not (root / LINEAR.job_id / ERROR).exists() and (root / LINEAR.job_id / HISTORY).exists()
