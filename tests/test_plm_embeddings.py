"""`plm` with `head: embedding`: the encoder frozen, pooled embeddings cached by content hash
(.npy below the cache dir), a head trained on them. A second training computes no embedding
and reads the same files; a training with an empty cache recomputes them and gives the same
predictions; the saved model scores from codes like the cached path; job ids differ from
fine-tuning."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from test_pretrain import pretrain_gfp

from dmsweep.config import TrainConfig
from dmsweep.data import load_dataset
from dmsweep.data.source import DataSource
from dmsweep.errors import ConfigError
from dmsweep.models import load_model, predict_scores
from dmsweep.train.embeddings import CACHE_FOLDER, EMBEDDINGS, KEYS
from dmsweep.train.jobs import RunOptions
from dmsweep.train.trainer import run_trainings


@pytest.fixture(scope="module")
def pretrained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pretrain_gfp(data_dir, tmp_path_factory.mktemp("emb"), 30, max_length=100)


def _config(pretrained: Path, **extra: object) -> TrainConfig:
    flat = {"model": "plm", "pretrained": str(pretrained), "head": "embedding",
            "pooling": "mean", "dropout": 0.0, "split": "random", "max_variants": 300,
            "max_epochs": 3, "batch_size": 32, "learning_rate": 1e-2, **extra}  # fmt: skip
    return TrainConfig.from_flat(flat)


def _train(config: TrainConfig, out: Path, data_dir: Path) -> Path:
    options = RunOptions(output_root=out, data_dir=data_dir, force=True)
    (outcome,) = run_trainings([config], options=options)
    assert outcome.ok, outcome.error
    return outcome.path


def _predictions(folder: Path) -> list[tuple[str, float]]:
    with open(folder / "predictions.csv", encoding="utf-8") as stream:
        return [(r["variant"], float(r["predicted_score"])) for r in csv.DictReader(stream)]


@pytest.mark.slow
def test_the_cache_is_reused_and_matches_a_recomputation(
    pretrained, data_dir, tmp_path, monkeypatch
) -> None:
    config = _config(pretrained)
    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    first = _train(config, tmp_path / "a", data_dir)
    report = json.loads((first / "provenance.json").read_text())["embedding_cache"]
    folder = Path(report["folder"])
    assert folder.parent == tmp_path / "cache" / CACHE_FOLDER
    assert report["computed"] == 300 and report["reused"] == 0
    stamps = {name: (folder / name).stat().st_mtime_ns for name in (KEYS, EMBEDDINGS)}
    assert np.load(folder / EMBEDDINGS, allow_pickle=False).shape == (300, 32)

    second = _train(config, tmp_path / "b", data_dir)
    report = json.loads((second / "provenance.json").read_text())["embedding_cache"]
    assert report["computed"] == 0 and report["reused"] == 300
    assert {name: (folder / name).stat().st_mtime_ns for name in stamps} == stamps
    assert _predictions(second) == _predictions(first)

    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "fresh"))
    third = _train(config, tmp_path / "c", data_dir)
    report = json.loads((third / "provenance.json").read_text())["embedding_cache"]
    assert report["computed"] == 300
    assert _predictions(third) == _predictions(first)

    metrics = json.loads((first / "metrics.json").read_text())
    assert metrics["n_parameters"] == 33  # the head only: Dense(32 -> 1)
    with open(first / "history.csv", encoding="utf-8") as stream:
        losses = [float(r["train_loss"]) for r in csv.DictReader(stream)]
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_the_saved_model_scores_codes_as_the_head_scored_embeddings(
    pretrained, data_dir, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    folder = _train(_config(pretrained, max_epochs=1), tmp_path / "out", data_dir)
    gfp = load_dataset("avgfp", source=DataSource.resolve(data_dir))
    rows = {v: i for i, v in enumerate(gfp.variants)}
    predicted = _predictions(folder)[:40]
    codes = gfp.codes[[rows[v] for v, _ in predicted]]
    scores = predict_scores(load_model(folder / "model" / "model.keras"), codes)
    assert scores == pytest.approx([p for _, p in predicted], abs=1e-4)


def test_the_job_id_differs_from_fine_tuning_and_bad_heads_are_refused(pretrained) -> None:
    tuned = _config(pretrained, head="finetune")
    assert _config(pretrained).job_id != tuned.job_id
    flat = tuned.to_flat()
    assert "head" not in flat  # fine-tuning keeps the job ids it had before `head` existed
    assert TrainConfig.from_flat(flat).job_id == tuned.job_id
    with pytest.raises(ConfigError, match=r"head: expected one of \['finetune', 'embedding'\]"):
        _config(pretrained, head="embed")
