"""Dataset cards, table validation, the data directory, and the download cache."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dmsweep.config import DataConfig
from dmsweep.data import (
    ALPHABET,
    DatasetCard,
    FileSource,
    encode_variants,
    encoding_table,
    load_card,
    load_dataset,
    make_split,
    residue_graph,
    resolve_data_dir,
)
from dmsweep.errors import DataError, VariantError

AVGFP_SHA = "7a7f299bafedfe6d41e2a0aae45da3064620d3a4f32eb865c22291d86393786d"
WT = "MKTAYIAK"


@pytest.fixture(scope="module")
def avgfp(data_dir):
    return load_dataset("avgfp", data_dir=data_dir)


@pytest.fixture(autouse=True)
def no_ambient_dirs(monkeypatch, tmp_path):
    """Tests choose their data and cache folders explicitly; never the user's real cache."""
    monkeypatch.delenv("DMSWEEP_DATA_DIR", raising=False)
    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "default-cache"))


# ---------------------------------------------------------------- the real avGFP data


def test_avgfp_loads_as_int8_codes(avgfp, data_dir):
    assert len(avgfp) == 54_024
    assert avgfp.codes.shape == (54_024, 237) and avgfp.codes.dtype == np.int8
    assert avgfp.scores.shape == (54_024,) and avgfp.scores.dtype == np.float32
    assert avgfp.num_mutations.dtype == np.int16 and avgfp.num_mutations.max() == 15
    assert avgfp.variants[:2] == ("A108D", "A108D,N144D,I186V,M231T,L234P")
    assert avgfp.scores[0] == pytest.approx(1.30103, abs=1e-5)
    wild_type = np.array([ALPHABET.index(c) for c in avgfp.card.wild_type], dtype=np.int8)
    changed = np.flatnonzero(avgfp.codes[0] != wild_type)
    assert changed.tolist() == [108] and ALPHABET[avgfp.codes[0, 108]] == "D"
    assert ((avgfp.codes != wild_type).sum(axis=1) == avgfp.num_mutations).all()
    assert avgfp.root == data_dir / "avgfp" and not avgfp.downloads
    assert avgfp.checksums["avgfp.tsv"] == f"sha256:{AVGFP_SHA}"
    assert set(avgfp.checksums) == {"avgfp.tsv", "avgfp_rosetta_model.pdb"}
    assert avgfp.structure_path() == data_dir / "avgfp" / "avgfp_rosetta_model.pdb"


def test_packaged_card_lists_every_file_with_its_public_url():
    card = load_card("avgfp")
    assert card.folder is None and card.offset == 0 and len(card.wild_type) == 237
    assert card.wild_type.startswith("SKGEELFTG") and card.wild_type.endswith("MDELYK")
    assert card.files["avgfp.tsv"] == FileSource(
        url="https://raw.githubusercontent.com/gitter-lab/nn4dms/"
        "434e354828f306cbb6796033ef1169cbe5207350/data/avgfp/avgfp.tsv",
        sha256=AVGFP_SHA,
    )
    assert card.files["splits/main/stest.txt"].url.endswith("/pub/splits/avgfp/main/stest.txt")
    assert len(card.files) == 173


def test_every_card_checksum_matches_the_shared_data(data_dir):
    card = load_card("avgfp")
    on_disk = {
        p.relative_to(data_dir / "avgfp").as_posix()
        for p in (data_dir / "avgfp").rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    assert on_disk == set(card.files)
    for rel, source in card.files.items():
        digest = hashlib.sha256((data_dir / "avgfp" / rel).read_bytes()).hexdigest()
        assert digest == source.sha256, rel


def test_data_dir_env_var_is_honoured(monkeypatch, data_dir):
    monkeypatch.setenv("DMSWEEP_DATA_DIR", str(data_dir))
    assert resolve_data_dir(None) == data_dir
    assert resolve_data_dir("/elsewhere") == Path("/elsewhere")
    dataset = load_dataset("avgfp")
    assert dataset.root == data_dir / "avgfp" and not dataset.downloads
    monkeypatch.delenv("DMSWEEP_DATA_DIR")
    assert resolve_data_dir(None) is None


def test_a_modified_local_file_is_refused(tmp_path, data_dir):
    local = tmp_path / "data" / "avgfp"
    local.mkdir(parents=True)
    table = (data_dir / "avgfp" / "avgfp.tsv").read_text()
    (local / "avgfp.tsv").write_text(table.replace("1.30103000388", "1.4", 1))
    with pytest.raises(DataError, match=r"avgfp.tsv: checksum mismatch: expected sha256:7a7f"):
        load_dataset("avgfp", data_dir=tmp_path / "data")


def test_a_missing_local_file_says_how_to_download(tmp_path):
    (tmp_path / "avgfp").mkdir()
    with pytest.raises(DataError, match=r"avgfp.tsv: file not found \(unset DMSWEEP_DATA_DIR"):
        load_dataset("avgfp", data_dir=tmp_path)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(DataError, match=r"unknown dataset 'gfp'.*'avgfp'"):
        load_card("gfp")


# ---------------------------------------------------------------- the download cache


@pytest.fixture()
def remote(tmp_path, data_dir):
    """A copy of some avGFP files served through file:// URLs, and a card pointing at it."""
    served = tmp_path / "remote"
    wanted = ["avgfp.tsv", "avgfp_rosetta_model.pdb"] + [
        f"splits/main/{name}" for name in ("train.txt", "tune.txt", "stest.txt")
    ]
    packaged = load_card("avgfp")
    files = {}
    for rel in wanted:
        (served / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / "avgfp" / rel, served / rel)
        files[rel] = FileSource(url=(served / rel).as_uri(), sha256=packaged.files[rel].sha256)
    return dataclasses.replace(packaged, files=files)


def test_download_fills_the_cache_and_verifies(remote, tmp_path, avgfp):
    cache = tmp_path / "cache"
    dataset = load_dataset(remote, cache_dir=cache)
    assert dataset.downloads and dataset.root == cache / "avgfp"
    assert (cache / "avgfp" / "avgfp.tsv").is_file()
    assert (cache / "avgfp" / "avgfp_rosetta_model.pdb").is_file()
    assert not (cache / "avgfp" / "splits").exists()  # splits come when a split asks for them
    assert dataset.checksums == avgfp.checksums
    assert np.array_equal(dataset.codes, avgfp.codes)

    split = make_split(dataset, DataConfig(split="main"))
    assert (cache / "avgfp" / "splits" / "main" / "stest.txt").is_file()
    assert split.checksums() == make_split(avgfp, DataConfig(split="main")).checksums()
    assert sorted(p.name for p in (cache / "avgfp").iterdir()) == [
        "avgfp.tsv",
        "avgfp_rosetta_model.pdb",
        "splits",
    ]  # no temporary files left behind


def test_a_corrupt_cached_file_is_downloaded_again(remote, tmp_path):
    cache = tmp_path / "cache"
    load_dataset(remote, cache_dir=cache)
    (cache / "avgfp" / "avgfp.tsv").write_text("variant\tscore\n")
    dataset = load_dataset(remote, cache_dir=cache)
    assert hashlib.sha256((cache / "avgfp" / "avgfp.tsv").read_bytes()).hexdigest() == AVGFP_SHA
    assert len(dataset) == 54_024


def test_download_checksum_mismatch_names_file_expected_and_found(remote, tmp_path):
    wrong = "0" * 64
    files = dict(
        remote.files, **{"avgfp.tsv": dataclasses.replace(remote.files["avgfp.tsv"], sha256=wrong)}
    )
    with pytest.raises(DataError) as caught:
        load_dataset(dataclasses.replace(remote, files=files), cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert message.startswith("avgfp.tsv: checksum mismatch: ")
    assert f"expected sha256:{wrong}, found sha256:{AVGFP_SHA}" in message
    assert "\n" not in message
    assert list((tmp_path / "cache" / "avgfp").iterdir()) == []


def test_failed_download_is_one_line_with_the_url(remote, tmp_path):
    (tmp_path / "remote" / "avgfp.tsv").unlink()
    with pytest.raises(
        DataError, match=r"^avgfp.tsv: download from file://.* failed: .*DMSWEEP_DATA_DIR"
    ):
        load_dataset(remote, cache_dir=tmp_path / "cache")


def test_cache_dir_defaults_to_the_env_var(remote, tmp_path):
    dataset = load_dataset(remote)
    assert dataset.root == tmp_path / "default-cache" / "avgfp"


# ---------------------------------------------------------------- user cards and tables


def write_pdb(path: Path, sequence: str) -> None:
    """A toy structure: residues 3.8 A apart along x, C-beta 1.5 A off in y (none for G)."""
    three = {"M": "MET", "K": "LYS", "T": "THR", "A": "ALA", "Y": "TYR", "I": "ILE", "G": "GLY"}
    lines = []
    for i, residue in enumerate(sequence):
        atoms = [("CA", 3.8 * i, 0.0)] + ([] if residue == "G" else [("CB", 3.8 * i, 1.5)])
        for name, x, y in atoms:
            lines.append(
                f"ATOM  {len(lines) + 1:5d}  {name:<3s} {three[residue]} A{i + 1:4d}    "
                f"{x:8.3f}{y:8.3f}{0.0:8.3f}  1.00  0.00           C"
            )
    path.write_text("\n".join([*lines, "END", ""]))


def write_card(folder: Path, table: str, **extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy.tsv").write_text(textwrap.dedent(table).lstrip())
    lines = ["name: toy", "table: toy.tsv", f"wild_type: {WT}"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    card = folder / "toy.yaml"
    card.write_text("\n".join(lines) + "\n")
    return card


TOY_TABLE = """\
    variant\tnum_mutations\tscore
    _wt\t0\t1.0
    M0A\t1\t0.5
    K1R,A6G\t2\t0.25
    T2S\t1\t-0.5
    Y4F\t1\t2
    I5V\t1\t1.5
    A3G\t1\t1e-1
    K7*\t1\t-3
    """


def test_a_user_card_works_end_to_end(tmp_path):
    folder = tmp_path / "toy"
    card_path = write_card(folder, TOY_TABLE, structure="toy.pdb", splits="splits", offset="0")
    write_pdb(folder / "toy.pdb", WT)
    published = folder / "splits" / "first"
    published.mkdir(parents=True)
    (published / "train.txt").write_text("0\n1\n2\n3\n")
    (published / "tune.txt").write_text("4\n5\n")
    (published / "test.txt").write_text("6\n7\n")

    dataset = load_dataset(str(card_path))
    assert dataset.root == folder and dataset.card.name == "toy"
    assert dataset.variants[2] == "K1R,A6G"
    assert dataset.scores.tolist() == pytest.approx([1, 0.5, 0.25, -0.5, 2, 1.5, 0.1, -3])
    assert dataset.num_mutations.tolist() == [0, 1, 2, 1, 1, 1, 1, 1]
    assert np.array_equal(dataset.codes, encode_variants(dataset.variants, WT))
    assert set(dataset.checksums) == {"toy.tsv", "toy.pdb"}

    split = make_split(dataset, DataConfig(dataset=str(card_path), split="first"))
    assert split.test.tolist() == [6, 7]
    assert split.assignment(len(dataset)).tolist() == [1, 1, 1, 1, 2, 2, 3, 3]
    random = make_split(dataset, DataConfig(split="random", tune_fraction=0.25, test_fraction=0.25))
    assert random.sizes() == {"train": 4, "tune": 2, "test": 2}

    graph = residue_graph(dataset.structure_path(), n_residues=len(WT))
    assert graph.shape == (8, 8) and graph[0, 1] and not graph[0, 2]  # 3.8 A < 7 A < 7.6 A
    table = encoding_table(("one_hot",))
    assert table[dataset.codes].shape == (8, 8, 21)


def test_a_card_inside_the_data_dir_is_found_by_name(tmp_path):
    write_card(tmp_path / "data" / "toy", TOY_TABLE)
    (tmp_path / "data" / "toy" / "toy.yaml").rename(tmp_path / "data" / "toy" / "dataset.yaml")
    dataset = load_dataset("toy", data_dir=tmp_path / "data")
    assert len(dataset) == 8 and dataset.root == tmp_path / "data" / "toy"
    with pytest.raises(DataError, match="the card names no structure file"):
        dataset.structure_path()


def test_csv_tables_and_custom_columns(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy.csv").write_text("mutant,fitness\nM0A,1\n_wt,2\n")
    card = folder / "toy.yaml"
    card.write_text(
        f"name: toy\ntable: toy.csv\nwild_type: {WT}\nvariant_column: mutant\n"
        "score_column: fitness\n"
    )
    assert load_dataset(card).scores.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("table", "error", "message"),
    [
        (
            "variant\tvalue\nM0A\t1\n",
            DataError,
            r"toy.tsv, line 1: missing column 'score' \(found \['variant', 'value'\]\)",
        ),
        ("name\tscore\nM0A\t1\n", DataError, r"toy.tsv, line 1: missing column 'variant'"),
        (
            "variant\tscore\nM0A\t1\nK1R\tabc\n",
            DataError,
            r"toy.tsv, line 3: score 'abc' is not a number",
        ),
        (
            "variant\tscore\nM0A\t1\nK1R\t\n",
            DataError,
            r"toy.tsv, line 3: score '' is not a number",
        ),
        ("variant\tscore\nM0A\tnan\n", DataError, r"toy.tsv, line 2: score 'nan' is not a number"),
        (
            "variant\tscore\nM0A\t1\nK1R\t2\nA1R\t3\n",
            VariantError,
            r"toy.tsv, line 4: A1R: position 1 is K in the wild type",
        ),
        (
            "variant\tscore\nM0A\t1\nK9R\t2\n",
            VariantError,
            r"toy.tsv, line 3: K9R: position 9 is out of range \(0..7\)",
        ),
        ("variant\tscore\nM0J\t1\n", VariantError, r"toy.tsv, line 2: M0J: unknown amino acid 'J'"),
        ("variant\tscore\nM0A;K1R\t1\n", VariantError, r"toy.tsv, line 2: M0A;K1R: bad syntax"),
        ("variant\tscore\nM0A\t1\n\t\nK1R\t2\n", DataError, r"toy.tsv, line 3: empty line"),
        (
            "variant\tscore\nM0A\t1\nK1R\t2\nM0A\t3\n",
            DataError,
            r"toy.tsv, line 4: variant 'M0A' repeats line 2",
        ),
        (
            "variant\tnum_mutations\tscore\nM0A,K1R\t1\t1\n",
            DataError,
            r"toy.tsv, line 2: num_mutations '1' does not match variant 'M0A,K1R' \(2 mutations\)",
        ),
        ("variant\tscore\nM0A\t1\t7\n", DataError, r"toy.tsv: cannot read the table: .*line 2"),
        ("variant\tscore\n", DataError, r"toy.tsv: the table has no rows"),
    ],
)
def test_bad_tables_raise_one_line_naming_file_line_and_problem(tmp_path, table, error, message):
    card = write_card(tmp_path / "toy", table)
    with pytest.raises(error, match=message) as caught:
        load_dataset(card)
    assert "\n" not in str(caught.value)
    assert str(tmp_path / "toy" / "toy.tsv") in str(caught.value)


@pytest.mark.parametrize(
    ("card_text", "message"),
    [
        ("name: toy\ntable: toy.tsv\n", r"missing key 'wild_type'"),
        (
            f"name: toy\ntable: toy.tsv\nwild_type: {WT}\nscore: x\n",
            r"unknown key 'score' \(valid keys: \[",
        ),
        (f"name: toy\ntable: toy.tsv\nwild_type: {WT}\noffset: one\n", r"offset: expected"),
        (f"name: toy\ntable: 3\nwild_type: {WT}\n", r"table: expected the table file name"),
        ("- a list\n", r"a dataset card is a YAML mapping"),
        ("name: [unclosed\n", r"cannot read the dataset card"),
        (
            f"name: toy\ntable: t.tsv\nwild_type: {WT}\nfiles:\n  t.tsv: [t.tsv, {'a' * 64}]\n",
            r"files: t.tsv: relative url 't.tsv' needs base_url",
        ),
        (
            f"name: toy\ntable: t.tsv\nwild_type: {WT}\nfiles:\n  t.tsv: [http://x/t.tsv, abc]\n",
            r"files: t.tsv: expected a sha256 of 64 hex digits",
        ),
    ],
)
def test_bad_cards_raise_one_line_naming_the_card(tmp_path, card_text, message):
    path = tmp_path / "card.yaml"
    path.write_text(card_text)
    with pytest.raises(DataError, match=message) as caught:
        load_card(str(path))
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_card_files_accept_a_mapping_and_base_url(tmp_path):
    path = tmp_path / "card.yaml"
    sha = "ab" * 32
    path.write_text(
        f"name: toy\ntable: t.tsv\nwild_type: |\n  MKTA\n  YIAK\nbase_url: https://example.org/d/\n"
        f"files:\n  t.tsv: {{url: raw/t.tsv, sha256: 'sha256:{sha.upper()}'}}\n"
    )
    card = load_card(path)
    assert isinstance(card, DatasetCard) and card.wild_type == WT
    assert card.files == {"t.tsv": FileSource("https://example.org/d/raw/t.tsv", sha)}
    assert card.folder == tmp_path


def test_a_missing_card_file(tmp_path):
    with pytest.raises(DataError, match="dataset card not found"):
        load_card(str(tmp_path / "nope.yaml"))
