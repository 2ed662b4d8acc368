"""Model type `plm`: a locally pretrained tiny BERT fine-tuned on real avGFP variants through the
trainer: tokenisation of variants in the graph (stop codons, truncation), frozen layers stay
frozen, the regression loss drops, job folders predict, configs are validated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_pretrain import pretrain_gfp

from dmsweep._tf import keras
from dmsweep.config import PLMParams, TrainConfig
from dmsweep.data import load_dataset
from dmsweep.data.source import DataSource
from dmsweep.data.variants import ALPHABET
from dmsweep.errors import ConfigError
from dmsweep.models import ModelInputs, build_model, load_model, predict_scores, save_model
from dmsweep.train.job import optimizer_for
from dmsweep.train.jobs import RunOptions
from dmsweep.train.trainer import run_trainings

STOP = ALPHABET.index("*")


@pytest.fixture(scope="module")
def pretrained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT (2 x 32) pretrained for one epoch on 30 real avGFP sequences, 240 tokens."""
    return pretrain_gfp(data_dir, tmp_path_factory.mktemp("plm"), 30, max_length=240)


@pytest.fixture(scope="module")
def gfp(data_dir: Path):
    return load_dataset("avgfp", source=DataSource.resolve(data_dir))


def _model(pretrained: Path, length: int, **params) -> keras.Model:
    return build_model(
        PLMParams(pretrained=str(pretrained), dropout=0.0, **params),
        ModelInputs(table=np.zeros((21, 1), np.float32), length=length, pretrained=pretrained),
    )


def test_a_stop_codon_ends_the_sequence_and_long_ones_are_truncated(pretrained, gfp) -> None:
    """What follows a stop is padding: changing it changes nothing; nor does anything beyond
    max_length - 2 residues; a change before either does."""
    model = _model(pretrained, gfp.codes.shape[1], pooling="mean", max_length=100)
    row = next(i for i in range(len(gfp)) if STOP not in gfp.codes[i])
    wild = np.asarray(gfp.codes[[row]], np.int8)
    stopped = wild.copy()
    stopped[0, 50] = STOP
    after_stop = stopped.copy()
    after_stop[0, 60] = ALPHABET.index("W")
    beyond = wild.copy()
    beyond[0, 120] = ALPHABET.index("W")
    before = wild.copy()
    before[0, 10] = ALPHABET.index("W")
    scores = predict_scores(model, np.concatenate([wild, stopped, after_stop, beyond, before]))
    assert scores[1] == pytest.approx(scores[2], abs=1e-6)  # after the stop: padding
    assert abs(scores[0] - scores[1]) > 1e-6  # the stop itself shortens the sequence
    assert scores[3] == pytest.approx(scores[0], abs=1e-6)  # beyond 98 residues: cut
    assert abs(scores[4] - scores[0]) > 1e-6


def test_frozen_layers_are_frozen_and_the_rest_trains(pretrained, gfp) -> None:
    config = TrainConfig.from_flat(
        {"model": "plm", "pretrained": str(pretrained), "frozen_layers": 1, "dropout": 0.0,
         "learning_rate": 1e-3, "batch_size": 16, "max_epochs": 1, "warmup_fraction": 0.0}
    )  # fmt: skip
    model = _model(pretrained, gfp.codes.shape[1], frozen_layers=1)
    model.compile(optimizer=optimizer_for(config, 64), loss="mse")
    main = model.get_layer("plm_backbone").main
    frozen = [*main.embeddings.weights, *main.encoder.layer[0].weights]
    trained = [*main.encoder.layer[1].weights, *model.get_layer("output").weights]
    before = [w.numpy().copy() for w in frozen + trained]
    codes, scores = gfp.codes[:16], gfp.scores[:16]
    losses = [float(model.train_on_batch(codes, scores)) for _ in range(8)]
    after = [w.numpy() for w in frozen + trained]
    assert all(np.array_equal(b, a) for b, a in zip(before[: len(frozen)], after, strict=False))
    assert all(
        not np.array_equal(b, a)
        for b, a in zip(before[len(frozen) :], after[len(frozen) :], strict=True)
    )
    assert losses[-1] < losses[0]
    assert not any(id(w) in {id(t) for t in model.trainable_weights} for w in frozen)


def test_a_saved_plm_loads_and_scores_alike(pretrained, gfp, tmp_path: Path) -> None:
    model = _model(pretrained, gfp.codes.shape[1], pooling="cls")
    save_model(model, tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    codes = gfp.codes[:5]
    np.testing.assert_allclose(
        predict_scores(loaded, codes), predict_scores(model, codes), atol=1e-6
    )


def test_plm_configs_are_validated(pretrained, gfp) -> None:
    with pytest.raises(ConfigError, match=r"^config: pretrained: expected the path"):
        TrainConfig.from_flat({"model": "plm"})
    with pytest.raises(ConfigError, match=r"pooling: expected one of \['cls', 'mean'\]"):
        TrainConfig.from_flat({"model": "plm", "pretrained": "x", "pooling": "attention"})
    with pytest.raises(ConfigError, match=r"clip_norm: expected a number in \(0, 1_000_000\]"):
        TrainConfig.from_flat({"model": "plm", "pretrained": "x", "clip_norm": 0})
    with pytest.raises(ConfigError, match="frozen_layers: does not apply to model 'fc'"):
        TrainConfig.from_flat({"model": "fc", "frozen_layers": 1})
    with pytest.raises(ConfigError, match=r"frozen_layers: expected an integer in \[0, 2\]"):
        _model(pretrained, gfp.codes.shape[1], frozen_layers=3)


@pytest.mark.slow
def test_the_regression_head_trains_through_the_trainer(pretrained, data_dir, tmp_path) -> None:
    """300 real avGFP variants, random split: the train loss drops over 4 epochs, the job
    folder is complete with the pretrained checksum in provenance, and predict scores it."""
    from dmsweep.train.predict import TrainedJob, variants_from_args

    config = TrainConfig.from_flat(
        {"model": "plm", "pretrained": str(pretrained), "split": "random", "max_variants": 300,
         "max_epochs": 4, "patience": 4, "batch_size": 16, "learning_rate": 1e-3,
         "dropout": 0.0, "pooling": "mean"}
    )  # fmt: skip
    options = RunOptions(output_root=tmp_path, data_dir=data_dir, verbose=False)
    (outcome,) = run_trainings([config], options=options)
    assert outcome.ok, outcome.error
    history = [line.split(",") for line in (outcome.path / "history.csv").read_text().split()[1:]]
    assert float(history[-1][1]) < float(history[0][1])
    provenance = json.loads((outcome.path / "provenance.json").read_text())
    assert provenance["pretrained"]["checksum"].startswith("sha256:")
    assert provenance["pretrained"]["origin"].startswith("locally pretrained")
    job = TrainedJob(outcome.path, data_dir=data_dir)
    prediction = job.predict(variants_from_args(["A108D,N144D", "Y141N"]))
    assert len(prediction.scores) == 2 and np.isfinite(prediction.scores).all()


@pytest.mark.slow
def test_a_sweep_with_a_plm_builds_and_runs_locally(pretrained, data_dir, tmp_path, monkeypatch):
    """The pretrained directory, relative to the data directory, is copied into the run
    folder's data/ with per-file checksums; the job trains from that copy."""
    import shutil

    from run_specs import weird_data_dir, write_spec

    from dmsweep.data.pretrained import check_pretrained
    from dmsweep.run_builder.cli import main
    from dmsweep.run_builder.run import Run

    data = weird_data_dir(tmp_path, data_dir)
    shutil.copytree(pretrained, data / "plm" / "tiny")
    monkeypatch.setenv("DMSWEEP_DATA_DIR", str(data))
    spec = write_spec(
        tmp_path / "plm.yaml",
        models={
            "plm": {"fixed": {"pretrained": "plm/tiny", "split": "random", "max_variants": 200,
                              "batch_size": 16, "pooling": "mean"}}
        },
        replicates={"seed": [1]},
        trainings_per_job=1,
    )  # fmt: skip
    runs = tmp_path / "runs"
    assert main([str(spec), "-o", str(runs), "--name", "plm"]) == 0
    run = Run.open(runs / "plm")
    copied = run.paths.root / "data" / "plm" / "tiny"
    assert (copied / "tf_model.h5").is_file()
    assert run.manifest.data["plm/tiny/tf_model.h5"].startswith("sha256:")
    assert main(["run-local", str(run.paths.root), "-j", "1", "--no-progress"]) == 0
    (job_id,) = list(run.batch_of)
    provenance = json.loads((run.paths.results / job_id / "provenance.json").read_text())
    assert provenance["pretrained"]["checksum"] == check_pretrained(pretrained).checksum
    assert provenance["pretrained"]["path"].endswith("data/plm/tiny")
    metrics = json.loads((run.paths.results / job_id / "metrics.json").read_text())
    assert metrics["splits"]["test"]["n"] == 20
