"""`dmsweep pretrain`: a tiny BERT pretrained in seconds on real avGFP variant sequences, saved
in Hugging Face format with its tokenizer, labelled as locally pretrained, loaded back in a
fresh process; PyTorch-only checkpoints and bad corpora refused in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dmsweep.data import load_dataset
from dmsweep.data.pretrained import LOCAL_ORIGIN, VOCABULARY, check_pretrained
from dmsweep.data.source import DataSource
from dmsweep.data.variants import ALPHABET
from dmsweep.errors import DataError, OutputError
from dmsweep.train.pretrain import PretrainOptions, pretrain, windows

CORPUS_SIZE = 60


def write_gfp_fasta(data_dir: Path, path: Path, n: int = CORPUS_SIZE, seed: int = 0) -> Path:
    """`n` real avGFP variants' full sequences (up to a stop codon) as a FASTA file."""
    dataset = load_dataset("avgfp", source=DataSource.resolve(data_dir))
    rows = np.random.default_rng(seed).choice(len(dataset), n, replace=False)
    with open(path, "w", encoding="utf-8") as out:
        for i in rows:
            sequence = "".join(ALPHABET[c] for c in dataset.codes[i]).split("*")[0]
            out.write(f">{dataset.variants[i] or 'wild_type'}\n{sequence}\n")
    return path


def pretrain_gfp(data_dir: Path, folder: Path, n: int, **options: Any) -> Path:
    """A tiny BERT pretrained on `n` real avGFP sequences (module fixtures of other tests)."""
    fasta = write_gfp_fasta(data_dir, folder / "gfp.fasta", n=n)
    return pretrain(PretrainOptions(fasta=fasta, output=folder / "tiny", **options)).output


@pytest.fixture(scope="module")
def tiny(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("pretrain")
    fasta = write_gfp_fasta(data_dir, folder / "gfp.fasta")
    result = pretrain(PretrainOptions(fasta=fasta, output=folder / "tiny", epochs=2, seed=3))
    return fasta, result


def test_the_mlm_loss_drops_and_the_model_is_labelled_local(tiny) -> None:
    _, result = tiny
    assert result.sequences == CORPUS_SIZE and result.windows >= 4 * CORPUS_SIZE
    assert result.loss_before > 3.0  # about ln(25): residues not yet learned
    assert result.loss_after < result.loss_before - 0.5
    config = json.loads((result.output / "config.json").read_text())
    block = config["dmsweep"]
    assert block["origin"] == LOCAL_ORIGIN and "ProtBERT" not in config.get("_name_or_path", "")
    assert block["seed"] == 3 and block["corpus_checksum"].startswith("sha256:")
    assert block["mlm_loss_after"] == pytest.approx(result.loss_after)
    assert (result.output / "tf_model.h5").is_file() and (result.output / "vocab.txt").is_file()
    checked = check_pretrained(result.output)
    assert checked.origin == LOCAL_ORIGIN and checked.local is not None
    assert checked.model_type == "bert"


@pytest.mark.slow
def test_it_loads_with_its_tokenizer_in_a_fresh_process(tiny) -> None:
    """from_pretrained(local_files_only=True) in a new interpreter: the tokenizer gives the ids
    pretraining used, and the loaded model has the trained weights (its loss on the fixed
    evaluation masking is the one pretraining reported, not the untrained one)."""
    fasta, result = tiny
    code = (
        "import sys, json, numpy as np, dmsweep\n"
        "from dmsweep.models.hf import AutoTokenizer, TFAutoModelForMaskedLM\n"
        "from dmsweep.train import pretrain as p\n"
        "path, fasta = sys.argv[1], sys.argv[2]\n"
        "tok = AutoTokenizer.from_pretrained(path, local_files_only=True)\n"
        "model = TFAutoModelForMaskedLM.from_pretrained(path, local_files_only=True)\n"
        "seqs, _ = p.read_corpus(fasta)\n"
        "ids = tok([' '.join(s[:62]) for s in seqs[:3]], return_tensors='np')['input_ids']\n"
        "evaluation = p.mask(p.windows(seqs, 64)[: p.EVAL_WINDOWS], np.random.default_rng(4))\n"
        "print(json.dumps({'ids': ids.tolist(), 'loss': p._loss(model, *evaluation)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(result.output), str(fasta)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    sequences = [line.strip() for line in fasta.read_text().splitlines()[1:6:2]]
    assert out["ids"] == windows([s[:62] for s in sequences], 64).tolist()
    assert out["loss"] == pytest.approx(result.loss_after, abs=1e-5)  # seed 3: masking from 4


def test_a_pytorch_only_checkpoint_is_refused_with_how_to_convert(tiny, tmp_path: Path) -> None:
    _, result = tiny
    torch_only = tmp_path / "torch"
    shutil.copytree(result.output, torch_only)
    (torch_only / "tf_model.h5").unlink()
    (torch_only / "model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(DataError) as raised:
        check_pretrained(torch_only)
    message = str(raised.value)
    assert "\n" not in message and str(torch_only) in message
    assert "PyTorch-only checkpoint (model.safetensors" in message and "from_pt=True" in message


def test_a_copy_has_the_same_checksum_and_one_byte_changes_it(tiny, tmp_path: Path) -> None:
    _, result = tiny
    copy = tmp_path / "copy"
    shutil.copytree(result.output, copy)
    assert check_pretrained(copy).checksum == check_pretrained(result.output).checksum
    with open(copy / "vocab.txt", "a") as extra:
        extra.write("\n")
    assert check_pretrained(copy).checksum != check_pretrained(result.output).checksum


def test_the_vocabulary_is_protberts() -> None:
    assert len(VOCABULARY) == 30
    assert VOCABULARY[:5] == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert VOCABULARY[5:9] == ("L", "A", "G", "V")


def test_bad_corpora_and_outputs_are_refused(tmp_path: Path, tiny) -> None:
    bad = tmp_path / "bad.fasta"
    bad.write_text(">ok\nMSKG\n>bad\nMSJKG\n")
    with pytest.raises(DataError, match=r"bad.fasta, line 3: unknown residue\(s\) 'J'"):
        pretrain(PretrainOptions(fasta=bad, output=tmp_path / "out"))
    _, result = tiny
    with pytest.raises(OutputError, match="exists and is not an empty folder"):
        pretrain(PretrainOptions(fasta=bad, output=result.output))


def test_the_command_refuses_a_bad_seed_at_once() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dmsweep"), "pretrain", "--fasta", "x.fa",
         "--seed", str(2**32), "-o", "out"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("--seed: expected an integer in [0, 4294967295], got 4294967296")
    )
