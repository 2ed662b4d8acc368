"""`dmsweep predict --zero-shot`: masked-marginal scores of a tiny locally pretrained BERT
(64 tokens, so avGFP's 237 residues are read through windows) equal the log-ratios computed
by hand from the model's logits; a double mutant is the sum of its singles; stop codons get
no score; bad inputs are one-line errors; the CSV comes with provenance."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from test_pretrain import pretrain_gfp

from dmsweep.cli import main
from dmsweep.data import encode_variants, load_card, load_dataset
from dmsweep.data.pretrained import LOCAL_ORIGIN, check_pretrained
from dmsweep.train.zero_shot import masked_marginals

WINDOW = 62  # the tiny preset's 64 positions less [CLS] and [SEP]


@pytest.fixture(scope="module")
def pretrained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT (2 x 32, 64 tokens) pretrained for one epoch on 30 real avGFP sequences."""
    return pretrain_gfp(data_dir, tmp_path_factory.mktemp("zero_shot"), 30, seed=5)


@pytest.fixture(scope="module")
def wild_type(data_dir: Path) -> str:
    return load_card("avgfp", data_dir=data_dir).wild_type


@pytest.fixture(scope="module")
def table(pretrained: Path, wild_type: str):
    return masked_marginals(pretrained, wild_type, batch_size=50)


def hand_ratio(pretrained: Path, wild_type: str, position: int, mutant: str) -> float:
    """log p(mutant) - log p(wild type) at `position` masked, from the model's own tokenizer
    and logits: the window of 62 residues centred on the position, clamped to the sequence."""
    from dmsweep.models.hf import AutoTokenizer, TFAutoModelForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(str(pretrained), local_files_only=True)
    model = TFAutoModelForMaskedLM.from_pretrained(str(pretrained), local_files_only=True)
    start = min(max(position - WINDOW // 2, 0), len(wild_type) - WINDOW)
    ids = tokenizer(" ".join(wild_type[start : start + WINDOW]), return_tensors="np")["input_ids"]
    assert ids.shape == (1, WINDOW + 2)
    ids[0, position - start + 1] = tokenizer.mask_token_id
    logits = model(input_ids=ids).logits.numpy()[0, position - start + 1].astype(np.float64)
    log_p = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    token = tokenizer.convert_tokens_to_ids
    return float(log_p[token(mutant)] - log_p[token(wild_type[position])])


@pytest.mark.parametrize("position", [3, 108, 230])  # window at the start, centred, at the end
def test_a_single_mutant_is_the_log_ratio_of_the_models_logits(
    table, pretrained, wild_type, position
) -> None:
    mutant = "W" if wild_type[position] != "W" else "A"
    codes = encode_variants([f"{wild_type[position]}{position}{mutant}"], wild_type)
    expected = hand_ratio(pretrained, wild_type, position, mutant)
    assert expected != 0.0
    assert table.score(codes)[0] == pytest.approx(expected, abs=1e-4)


def test_a_double_mutant_is_the_sum_of_its_singles_and_the_wild_type_is_zero(
    table, wild_type
) -> None:
    first, second = f"{wild_type[108]}108D", f"{wild_type[144]}144P"
    codes = encode_variants([first, second, f"{first},{second}", "_wt"], wild_type)
    single_a, single_b, double, wild = table.score(codes)
    assert double == pytest.approx(single_a + single_b, abs=1e-12)
    assert single_a != pytest.approx(single_b) and wild == 0.0


def test_a_stop_codon_gets_no_score(table, wild_type) -> None:
    codes = encode_variants([f"{wild_type[10]}10*", f"{wild_type[10]}10*,{wild_type[20]}20A"],
                            wild_type)  # fmt: skip
    assert np.isnan(table.score(codes)).all()


def test_the_command_writes_scores_and_provenance(
    table, pretrained, wild_type, data_dir, tmp_path, capsys
) -> None:
    out = tmp_path / "scores" / "zero.csv"
    args = ["predict", "--zero-shot", str(pretrained), "--dataset", "avgfp", "A108D,N144D",
            "Y141N", "E3*", "-o", str(out), "--data-dir", str(data_dir)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == ["variant", "predicted_score"]
    assert [r[0] for r in rows[1:]] == ["A108D,N144D", "Y141N", "E3*"]
    codes = encode_variants(["A108D,N144D", "Y141N"], wild_type)
    assert [float(r[1]) for r in rows[1:3]] == pytest.approx(table.score(codes), abs=1e-6)
    assert rows[3][1] == "nan"
    provenance = json.loads((tmp_path / "scores" / "zero.provenance.json").read_text())
    assert provenance["pretrained"]["checksum"] == check_pretrained(pretrained).checksum
    assert provenance["pretrained"]["origin"] == LOCAL_ORIGIN
    assert provenance["variants"] == 3 and provenance["variants_with_stop_not_scored"] == 1
    assert provenance["context_window"] == WINDOW and provenance["dataset"] == "avgfp"


def test_without_variants_every_variant_of_the_dataset_is_scored(
    table, pretrained, data_dir, tmp_path, capsys
) -> None:
    out = tmp_path / "all.csv"
    args = ["predict", "--zero-shot", str(pretrained), "--dataset", "avgfp", "-o", str(out),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    gfp = load_dataset("avgfp", data_dir=data_dir)
    rows = list(csv.reader(io.StringIO(out.read_text())))[1:]
    assert len(rows) == len(gfp) and rows[5][0] == (gfp.variants[5] or "_wt")
    assert [float(r[1]) for r in rows[:50]] == pytest.approx(
        table.score(gfp.codes[:50]), abs=1e-6, nan_ok=True
    )


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--dataset", "avgfp", "X1Y"], "unknown amino acid 'X'"),
        (["--dataset", "avgfp", "A108D", "Q3P"], "command line, variant 2: Q3P: position 3 is E"),
        (["A108D"], "--zero-shot: give --dataset NAME"),
        (["--dataset", "avgfp", "A108D", "--attention"], "--attention: not with --zero-shot"),
        (["--dataset", "avgfp", "A108D", "--db", "x.db"], "--db: not with --zero-shot"),
    ],
)
def test_bad_variants_and_options_are_one_line_errors(
    pretrained, data_dir, capsys, extra, words
) -> None:
    args = ["predict", "--zero-shot", str(pretrained), *extra, "--data-dir", str(data_dir)]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_bad_pretrained_directory_is_one_line(pretrained, data_dir, tmp_path, capsys) -> None:
    (tmp_path / "config.json").write_text("{}")
    for folder, words in [(tmp_path / "nope", "not a directory"), (tmp_path, "no tf_model.h5")]:
        args = ["predict", "--zero-shot", str(folder), "--dataset", "avgfp", "A108D",
                "--data-dir", str(data_dir)]  # fmt: skip
        assert main(args) == 2
        out, err = capsys.readouterr()
        assert out == "" and f"--zero-shot: {folder}: {words}" in err and err.count("\n") == 1


def test_dataset_without_zero_shot_is_refused(data_dir, tmp_path, capsys) -> None:
    assert main(["predict", str(tmp_path), "A108D", "--dataset", "avgfp"]) == 2
    assert "--dataset: only with --zero-shot" in capsys.readouterr().err
