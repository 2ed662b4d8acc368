"""Model type `plm`: a locally pretrained tiny BERT fine-tuned on real avGFP variants through the
trainer: tokenisation of variants in the graph (stop codons, truncation), frozen layers stay
frozen, the regression loss drops, job folders predict, configs are validated."""

from __future__ import annotations

import csv
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


def check_one_frozen_layer_trains(pretrained: Path, gfp, **params) -> keras.Model:
    """A plm with frozen_layers 1, eight AdamW steps on 16 real variants: the loss drops, the
    embeddings and the lowest layer stay as loaded and are not trainable, the top layer's
    trainable weights and the head move (tests/test_plm_esm.py too). Returns the model."""
    config = TrainConfig.from_flat(
        {"model": "plm", "pretrained": str(pretrained), "frozen_layers": 1, "dropout": 0.0,
         "learning_rate": 1e-3, "batch_size": 16, "max_epochs": 1, "warmup_fraction": 0.0}
    )  # fmt: skip
    model = _model(pretrained, gfp.codes.shape[1], frozen_layers=1, **params)
    model.compile(optimizer=optimizer_for(config, 64), loss="mse")
    main = model.get_layer("plm_backbone").main
    frozen = [*main.embeddings.weights, *main.encoder.layer[0].weights]
    trained = [*main.encoder.layer[1].trainable_weights, *model.get_layer("output").weights]
    before = [w.numpy().copy() for w in frozen + trained]
    losses = [float(model.train_on_batch(gfp.codes[:16], gfp.scores[:16])) for _ in range(8)]
    after = [w.numpy() for w in frozen + trained]
    assert all(np.array_equal(b, a) for b, a in zip(before[: len(frozen)], after, strict=False))
    moved = zip(before[len(frozen) :], after[len(frozen) :], strict=True)
    assert all(not np.array_equal(b, a) for b, a in moved)
    assert losses[-1] < losses[0]
    assert not any(id(w) in {id(t) for t in model.trainable_weights} for w in frozen)
    return model


def test_frozen_layers_are_frozen_and_the_rest_trains(pretrained, gfp) -> None:
    check_one_frozen_layer_trains(pretrained, gfp)


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


# ------------------------------------------------------------------------- protein sets (SCL2205)

SCL_PLM_STEP = 95
"""Every 95th SCL2205 protein: 201 proteins across the published train/eval/test split."""


def _scl_records(n: int) -> list:
    import itertools

    from dmsweep.data.proteins import open_protein_source

    return list(itertools.islice(open_protein_source("scl2205"), 0, None, SCL_PLM_STEP))[:n]


def test_a_long_protein_keeps_its_first_residues_as_its_tokenizer_spells_them(pretrained):
    """The truncation policy: max_length 64 keeps the first 62 residues; the in-graph tokens
    are the tokenizer's for the first 62 residues space-separated (unknown letters: X); a
    change past them changes nothing, one before does; padding to a longer protein of the
    batch changes nothing either; probabilities sum to one."""
    from dmsweep.data.protein_batches import batch_arrays, sequence_codes
    from dmsweep.data.tasks import MULTICLASS, Task
    from dmsweep.models.hf import AutoTokenizer
    from dmsweep.models.proteins import build_protein_model, protein_probabilities

    task = Task(MULTICLASS, "location", ("a", "b", "c"))
    params = PLMParams(pretrained=str(pretrained), max_length=64, pooling="mean", dropout=0.0)
    model = build_protein_model(params, table=np.zeros((23, 1)), task=task, pretrained=pretrained)
    import dataclasses

    records = sorted(_scl_records(20), key=lambda r: len(r.sequence))
    short = dataclasses.replace(records[0], sequence=records[0].sequence[:40])
    long = records[-1]
    assert len(long.sequence) > 300
    sequence = long.sequence[:10] + "B" + long.sequence[11:]
    tokenizer = AutoTokenizer.from_pretrained(str(pretrained), local_files_only=True)
    expected = tokenizer(" ".join(sequence[:62]).replace("B", "X"))["input_ids"]
    ids, attention, count = model.get_layer("plm_backbone").tokenise(sequence_codes(sequence)[None])
    assert ids.numpy()[0].tolist() == expected and int(count[0, 0]) == 62
    assert attention.numpy().sum() == 64
    beyond = sequence[:100] + ("W" if sequence[100] != "W" else "A") + sequence[101:]
    before = sequence[:30] + ("W" if sequence[30] != "W" else "A") + sequence[31:]
    codes = np.stack([sequence_codes(s)[:300] for s in (sequence, beyond, before)])
    p = protein_probabilities(model, {"codes": codes}, task)
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert np.allclose(p[0], p[1], atol=1e-6) and not np.allclose(p[0], p[2], atol=1e-6)
    alone, _ = batch_arrays([short], task=None)
    together, _ = batch_arrays([short, long], task=None)
    assert np.allclose(
        protein_probabilities(model, alone, task)[0],
        protein_probabilities(model, together, task)[0],
        atol=1e-5,
    )


def test_protein_set_plm_configs_are_checked():
    from dmsweep.data.tasks import check_protein_set_config, protein_set_task, residues_kept

    task = protein_set_task({"y": ["a", "b"]}, None, where="w")
    flat = {"model": "plm", "pretrained": "x", "max_length": 130}
    assert residues_kept(TrainConfig.from_flat(flat)) == 128
    assert residues_kept(TrainConfig.from_flat({**flat, "max_residues": 50})) == 50
    check_protein_set_config(TrainConfig.from_flat(flat), task, where="w")
    check_protein_set_config(
        TrainConfig.from_flat({**flat, "lr_scaling": "linear"}), task, where="w"
    )
    with pytest.raises(ConfigError, match="precision: a protein set trains in float32"):
        check_protein_set_config(
            TrainConfig.from_flat({**flat, "precision": "mixed_float16"}), task, where="w"
        )


@pytest.mark.slow
def test_the_classification_head_trains_on_an_scl2205_slice(pretrained, data_dir, tmp_path):
    """201 real SCL2205 proteins (published split) in SQLite, 13 classes: the train loss drops
    over 3 epochs, the embeddings and the frozen layer are the pretrained weights, the other
    layer moved, metrics.json has the classification metrics, and predict gives class
    probabilities summing to one."""
    from test_train_proteins import scl_subset, train

    from dmsweep.cli import main
    from dmsweep.db import open_store
    from dmsweep.models.hf import TFAutoModel

    db = tmp_path / "scl.db"
    store = open_store(str(db))
    n = scl_subset(store, "scl", step=SCL_PLM_STEP)
    store.close()
    folder = train(
        {"model": "plm", "pretrained": str(pretrained), "frozen_layers": 1, "pooling": "cls",
         "dropout": 0.1, "max_length": 66, "warmup_fraction": 0.1, "learning_rate": 3e-3,
         "batch_size": 16, "max_epochs": 3, "patience": 3,
         "dataset": {"db": f"sqlite://{db}", "collection": "scl"}},
        tmp_path / "results",
        data_dir,
    )  # fmt: skip
    with open(folder / "history.csv") as stream:
        losses = [float(r["train_loss"]) for r in csv.DictReader(stream)]
    assert len(losses) == 3 and losses[-1] < losses[0]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["task"] == "multiclass" and len(metrics["classes"]) == 13
    assert sum(metrics["splits"][p]["n"] for p in ("train", "tune", "test")) == n
    test = metrics["splits"]["test"]
    assert 0 <= test["accuracy"] <= 1 and test["log_loss"] > 0
    assert np.array(test["confusion_matrix"]).sum() == test["n"]
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["pretrained"]["origin"].startswith("locally pretrained")

    main_layer = load_model(folder / "model" / "model.keras").get_layer("plm_backbone").main
    original = TFAutoModel.from_pretrained(str(pretrained), local_files_only=True).bert
    pairs = [(main_layer.embeddings, original.embeddings)]
    pairs += [(main_layer.encoder.layer[0], original.encoder.layer[0])]
    for tuned, source in pairs:
        for a, b in zip(tuned.weights, source.weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    moved = zip(main_layer.encoder.layer[1].weights, original.encoder.layer[1].weights, strict=True)
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in moved)

    out = tmp_path / "predicted.csv"
    assert main(["predict", str(folder), "MKTAYIAKQRQISFVKSHFSRQ", "MSTNPKPQRKTKRNTNRRPQDVKFPGG",
                 "-o", str(out)]) == 0  # fmt: skip
    with open(out) as stream:
        rows = list(csv.DictReader(stream))
    assert [r["id"] for r in rows] == ["seq1", "seq2"]
    for row in rows:
        assert row["predicted_class"] in metrics["classes"]
        total = sum(float(row[f"p_{c}"]) for c in metrics["classes"])
        assert total == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_the_embedding_head_trains_on_an_scl2205_slice_from_the_cache(
    pretrained, data_dir, tmp_path, monkeypatch
):
    """`head: embedding` on 201 real SCL2205 proteins: every protein embedded once into the
    cache, a second training reuses all of them and predicts the same; only the head trains
    (its loss drops); predict from sequences matches the cached path."""
    from test_train_proteins import scl_subset, train

    from dmsweep.cli import main
    from dmsweep.db import open_store

    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "scl.db"
    store = open_store(str(db))
    n = scl_subset(store, "scl", step=SCL_PLM_STEP)
    store.close()
    config = {"model": "plm", "pretrained": str(pretrained), "head": "embedding",
              "pooling": "mean", "dropout": 0.0, "max_length": 66, "learning_rate": 1e-2,
              "batch_size": 16, "max_epochs": 5, "patience": 5, "class_weight": "balanced",
              "dataset": {"db": f"sqlite://{db}", "collection": "scl"}}  # fmt: skip
    first = train(config, tmp_path / "a", data_dir)
    second = train(config, tmp_path / "b", data_dir)
    reports = [json.loads((f / "provenance.json").read_text()) for f in (first, second)]
    assert reports[0]["embedding_cache"]["computed"] == n
    assert reports[1]["embedding_cache"] == {**reports[0]["embedding_cache"], "computed": 0,
                                             "reused": n}  # fmt: skip
    assert set(reports[0]["class_weights"]) == set(
        json.loads((first / "metrics.json").read_text())["classes"]
    )
    assert (first / "predictions.csv").read_text() == (second / "predictions.csv").read_text()
    metrics = json.loads((first / "metrics.json").read_text())
    assert metrics["task"] == "multiclass" and metrics["n_parameters"] == 32 * 13 + 13
    with open(first / "history.csv") as stream:
        losses = [float(r["train_loss"]) for r in csv.DictReader(stream)]
    assert losses[-1] < losses[0]

    with open(first / "predictions.csv") as stream:
        cached = list(csv.DictReader(stream))[:3]
    records = {r.id: r for r in _scl_records(10_000)}
    fasta = tmp_path / "test.fasta"
    fasta.write_text("".join(f">{r['id']}\n{records[r['id']].sequence}\n" for r in cached))
    out = tmp_path / "predicted.csv"
    assert main(["predict", str(first), "--file", str(fasta), "-o", str(out)]) == 0
    with open(out) as stream:
        predicted = list(csv.DictReader(stream))
    for row, again in zip(cached, predicted, strict=True):
        assert row["id"] == again["id"]
        for c in metrics["classes"]:
            assert float(again[f"p_{c}"]) == pytest.approx(float(row[f"p_{c}"]), abs=1e-4)


@pytest.mark.slow
def test_the_embedding_head_trains_on_a_protein_set_without_test_proteins(
    pretrained, data_dir, tmp_path, monkeypatch
):
    """`head: embedding` on the shared structures, none of them in the test split: the job
    ends with n = 0 test proteins (it crashed concatenating nothing), on one device."""
    from test_train_proteins import train

    from dmsweep.data.proteins import ProteinRecord, open_protein_source
    from dmsweep.db import open_store
    from dmsweep.db.ingest import META_INGEST, ingest_records

    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "no-test.db"
    store = open_store(str(db))
    records = [
        ProteinRecord(
            id=r.id,
            sequence=r.sequence,
            labels={"size": "long" if len(r.sequence) > 200 else "short"},
            split=("train", "tune")[i % 2],
        )
        for i, r in enumerate(open_protein_source(str(data_dir / "structures")))
    ]
    ingest_records(store, "s", records)
    store.put_meta("s", META_INGEST, {"labels": {"size": ["short", "long"]}})
    store.close()
    config = {"model": "plm", "pretrained": str(pretrained), "head": "embedding",
              "pooling": "mean", "max_length": 66, "batch_size": 2, "max_epochs": 2,
              "dataset": {"db": f"sqlite://{db}", "collection": "s"}}  # fmt: skip
    folder = train(config, tmp_path / "out", data_dir)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["splits"]["test"]["n"] == 0 and metrics["splits"]["train"]["n"] == 3
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["parallel"]["replicas"] == 1 and provenance["parallel"]["strategy"] is None
