"""`plm` on an ESM architecture: a tiny ESM-2-shaped model (random weights, rotary positions,
ESM-2's 33-token vocabulary) written locally in Hugging Face format with TensorFlow weights
loads through the same backbone, tokenises as ESM does (no spaces, `<cls> ... <eos>`), keeps
its frozen layers frozen, fine-tunes on real avGFP variants and saves and loads. (No ESM
weights ship anywhere: this checks the architecture path, not ESM's accuracy.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_plm import check_one_frozen_layer_trains

from dmsweep.config import PLMParams, TrainConfig
from dmsweep.data import load_dataset
from dmsweep.data.pretrained import check_pretrained
from dmsweep.data.source import DataSource
from dmsweep.data.variants import ALPHABET
from dmsweep.models import ModelInputs, build_model, load_model, predict_scores, save_model

ESM2_VOCABULARY = (
    "<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>",
    "<mask>",
)  # fmt: skip
"""ESM-2's tokens in its order (facebook/esm2_t6_8M_UR50D vocab.txt)."""


def write_tiny_esm(folder: Path, *, max_length: int = 242, seed: int = 0) -> Path:
    """An ESM-2-shaped model, 2 layers x 32, saved with `save_pretrained` (config.json,
    tf_model.h5) and its EsmTokenizer (vocab.txt)."""
    from dmsweep.models.hf import EsmConfig, EsmTokenizer, TFEsmForMaskedLM, tf

    folder.mkdir(parents=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("".join(f"{t}\n" for t in ESM2_VOCABULARY), encoding="utf-8")
    config = EsmConfig(
        vocab_size=len(ESM2_VOCABULARY), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=max_length,
        position_embedding_type="rotary", pad_token_id=1, mask_token_id=32,
        token_dropout=False, emb_layer_norm_before=False,
    )  # fmt: skip
    tf.keras.utils.set_random_seed(seed)
    model = TFEsmForMaskedLM(config)
    model(model.dummy_inputs)
    model.save_pretrained(folder)
    EsmTokenizer(str(vocab)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def esm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_esm(tmp_path_factory.mktemp("esm") / "tiny-esm")


@pytest.fixture(scope="module")
def gfp(data_dir: Path):
    return load_dataset("avgfp", source=DataSource.resolve(data_dir))


def _model(esm: Path, length: int, **params):
    return build_model(
        PLMParams(pretrained=str(esm), dropout=0.0, **params),
        ModelInputs(table=np.zeros((21, 1), np.float32), length=length, pretrained=esm),
    )


def test_an_esm_directory_is_checked_and_tokenised_as_esm(esm, gfp) -> None:
    """The in-graph tokens of avGFP variants are EsmTokenizer's for the sequence written
    without spaces (up to a stop codon), `<cls>` first, `<eos>` last, padding after."""
    from dmsweep.models.hf import AutoTokenizer

    checked = check_pretrained(esm)
    assert checked.model_type == "esm" and checked.origin.startswith("external esm model")
    assert (esm / "tf_model.h5").is_file()
    model = _model(esm, gfp.codes.shape[1], max_length=100)
    tokenizer = AutoTokenizer.from_pretrained(str(esm), local_files_only=True)
    assert type(tokenizer).__name__ == "EsmTokenizer"
    backbone = model.get_layer("plm_backbone")
    rows = [next(i for i in range(len(gfp)) if ALPHABET.index("*") in gfp.codes[i]), 0, 1]
    ids, attention, count = (t.numpy() for t in backbone.tokenise(gfp.codes[rows]))
    for row, own_ids, own_attention, kept in zip(rows, ids, attention, count[:, 0], strict=True):
        sequence = "".join(ALPHABET[c] for c in gfp.codes[row]).split("*")[0][:98]
        expected = tokenizer(sequence)["input_ids"]  # ESM: no spaces between residues
        assert expected[0] == 0 and expected[-1] == 2  # <cls> ... <eos>
        assert own_ids[: len(expected)].tolist() == expected and kept == len(sequence)
        assert set(own_ids[len(expected) :].tolist()) <= {1}  # <pad>
        assert own_attention.sum() == len(expected)


def test_an_esm_backbone_fine_tunes_with_its_frozen_layer_fixed(esm, gfp, tmp_path) -> None:
    """Eight AdamW steps on 16 real variants: the loss drops, the embeddings and the lowest
    layer stay as loaded, the top layer's trainable weights (not its rotary frequencies) and
    the head move; the saved model scores alike."""
    model = check_one_frozen_layer_trains(esm, gfp, pooling="mean")
    main = model.get_layer("plm_backbone").main
    assert type(main).__name__ == "TFEsmMainLayer"
    trainable = {id(w) for w in model.trainable_weights}
    assert not any(id(w) in trainable for w in main.contact_head.weights)
    codes = gfp.codes[:5]

    save_model(model, tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        predict_scores(loaded, codes), predict_scores(model, codes), atol=1e-5
    )


@pytest.mark.slow
def test_an_esm_plm_trains_through_the_trainer(esm, data_dir, tmp_path) -> None:
    """200 real avGFP variants, random split, 2 epochs: a valid job folder whose provenance
    names the ESM directory."""
    from dmsweep.train.jobs import RunOptions
    from dmsweep.train.trainer import run_trainings

    config = TrainConfig.from_flat(
        {"model": "plm", "pretrained": str(esm), "split": "random", "max_variants": 200,
         "max_epochs": 2, "batch_size": 16, "learning_rate": 1e-3, "pooling": "cls"}
    )  # fmt: skip
    options = RunOptions(output_root=tmp_path, data_dir=data_dir, verbose=False)
    (outcome,) = run_trainings([config], options=options)
    assert outcome.ok, outcome.error
    provenance = json.loads((outcome.path / "provenance.json").read_text())
    assert provenance["pretrained"]["model_type"] == "esm"
    metrics = json.loads((outcome.path / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and np.isfinite(metrics["splits"]["test"]["spearman"])


def test_a_pytorch_only_esm_directory_is_refused_in_one_line(esm, tmp_path) -> None:
    """pytorch_model.bin without tf_model.h5 (how ESM-2 is published): DataError naming the
    directory, the file, and the conversion (tests/test_pretrain.py: model.safetensors)."""
    import shutil

    from dmsweep.errors import DataError

    torch_only = tmp_path / "esm-torch"
    shutil.copytree(esm, torch_only)
    (torch_only / "tf_model.h5").rename(torch_only / "pytorch_model.bin")
    with pytest.raises(DataError) as raised:
        check_pretrained(torch_only)
    message = str(raised.value)
    assert "\n" not in message and str(torch_only) in message
    assert "PyTorch-only checkpoint (pytorch_model.bin" in message and "from_pt=True" in message
