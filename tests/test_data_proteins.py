"""Protein sets: the `kind: protein_set` card, its three sources, bad records, SCL2205."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dmsweep.data.card import load_card, load_protein_set_card, read_card, read_protein_set_card
from dmsweep.data.graphs import chain_residues, knn_edges, residue_graph
from dmsweep.data.proteins import (
    header_pattern,
    open_protein_source,
    read_protein_set,
)
from dmsweep.errors import DataError

DEEPLOC = """\
>Q9SMX3 Mitochondrion-M test
MKTAYIAKQR
QISFVKSHFS
>P12345 Nucleus-S
MSTNPKPQRK
>Q9H400 Cell.membrane-M train
MAAAGG
"""
LOCATIONS = ["Mitochondrion", "Nucleus", "Cell.membrane"]
STRUCTURE_LENGTHS = {
    "avgfp_rosetta_model": 237,
    "bgl3_rosetta_model": 501,
    "gb1_2qmt": 56,
    "pab1_rosetta_model": 75,
    "ube4b_rosetta_model": 102,
}


def write_card(folder: Path, text: str) -> Path:
    path = folder / "dataset.yaml"
    path.write_text("kind: protein_set\n" + text, encoding="utf-8")
    return path


@pytest.fixture
def deeploc(tmp_path: Path) -> Path:
    (tmp_path / "deeploc.fasta").write_text(DEEPLOC, encoding="utf-8")
    return write_card(
        tmp_path,
        "name: deeploc\nsource: deeploc.fasta\n"
        'header: "{id} {location}-{membrane} {split?}"\n'
        f"labels:\n  location: {{classes: {json.dumps(LOCATIONS)}}}\n"
        "  membrane: {classes: [M, S, U]}\n",
    )


def records(card_path: Path) -> list:
    return list(read_protein_set(read_protein_set_card(card_path)))


def test_deeploc_fasta_header_gives_labels_and_split(deeploc):
    got = records(deeploc)
    assert [r.id for r in got] == ["Q9SMX3", "P12345", "Q9H400"]
    assert got[0].sequence == "MKTAYIAKQRQISFVKSHFS"  # lines joined
    assert got[0].labels == {"location": "Mitochondrion", "membrane": "M"}
    assert [r.split for r in got] == ["test", None, "train"]
    assert got[2].labels["location"] == "Cell.membrane" and got[0].ca is None


def test_header_pattern_optional_field():
    pattern = header_pattern("{id} {label} {split?}")
    assert pattern.fullmatch("A x").groupdict() == {"id": "A", "label": "x", "split": None}
    assert pattern.fullmatch("A x test")["split"] == "test"
    assert pattern.fullmatch("A") is None


@pytest.mark.parametrize(
    ("fasta", "message"),
    [
        (">A Nucleus-S\nMKZ\n", r"deeploc.fasta, line 1: record 'A': unknown residue 'Z' at "),
        (">A Golgi-S\nMK\n", r"record 'A': label 'location': 'Golgi' is not one of the card's"),
        (">A Nucleus-S\nMK\n>A Nucleus-S\nMK\n", r"deeploc.fasta, line 3: record 'A': duplicate"),
        (">A Nucleus-S later\nMK\n", r"record 'A': split 'later': expected one of"),
        (">A\nMK\n", r"deeploc.fasta, line 1: header 'A' does not match"),
    ],
)
def test_bad_records_are_one_line_errors(deeploc, fasta, message):
    (deeploc.parent / "deeploc.fasta").write_text(fasta, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        records(deeploc)
    assert "\n" not in str(caught.value)


def test_bad_records_skipped_with_a_count(deeploc):
    (deeploc.parent / "deeploc.fasta").write_text(
        DEEPLOC + ">B Nucleus-S\nMKZ\n>Q9SMX3 Nucleus-S\nMK\n", encoding="utf-8"
    )
    deeploc.write_text(deeploc.read_text() + "on_bad_record: skip\n")
    reading = read_protein_set(read_protein_set_card(deeploc))
    assert [r.id for r in reading] == ["Q9SMX3", "P12345", "Q9H400"]
    assert reading.skipped == 2
    assert "unknown residue" in reading.skip_reasons[0]
    assert "duplicate id" in reading.skip_reasons[1]


def test_table_source_with_coded_and_numeric_labels(tmp_path):
    (tmp_path / "set.tsv").write_text(
        "name\tseq\tkind\tstability\tpart\nP1\tMKV\t1\t0.5\ttrain\nP2\tGGA\t0\t-1\tvalid\n"
    )
    card = write_card(
        tmp_path,
        "name: t\nsource: set.tsv\nid_column: name\nsequence_column: seq\nsplit_column: part\n"
        "labels:\n  kind: {classes: [a, b], coded: true}\n  stability: {}\n",
    )
    got = records(card)
    assert [(r.id, r.labels["kind"], r.labels["stability"], r.split) for r in got] == [
        ("P1", "b", 0.5, "train"),
        ("P2", "a", -1.0, "tune"),  # valid -> tune
    ]
    (tmp_path / "set.tsv").write_text("name\tseq\tkind\tstability\nP1\tMKV\t2\t1\n")
    with pytest.raises(DataError, match=r"set.tsv, line 2: record 'P1': label 'kind': expected a"):
        records(card)
    (tmp_path / "set.tsv").write_text("name\tseq\tkind\tstability\nP1\tMKV\t1\tnan\n")
    with pytest.raises(DataError, match=r"label 'stability': expected a finite number"):
        records(card)


def test_csv_without_a_card_reads_ids_and_sequences(tmp_path):
    (tmp_path / "p.csv").write_text("id,sequence\nA,MKV\nB,GG\n")
    reading = open_protein_source(str(tmp_path / "p.csv"))
    assert [(r.id, r.sequence) for r in reading] == [("A", "MKV"), ("B", "GG")]


def test_structure_folder_gives_coordinates(data_dir, tmp_path):
    card = write_card(
        tmp_path,
        f"name: structures\nsource: {data_dir / 'structures'}\ncoordinates: required\n",
    )
    got = {r.id: r for r in records(card)}
    assert {k: len(r.sequence) for k, r in got.items()} == STRUCTURE_LENGTHS
    gfp = got["avgfp_rosetta_model"]
    assert gfp.sequence == load_card("avgfp").wild_type
    assert gfp.ca.dtype == np.float32 and gfp.ca.shape == (237, 3)
    glycines = np.array([c == "G" for c in gfp.sequence])
    assert np.isnan(gfp.cb[glycines]).all() and not np.isnan(gfp.cb[~glycines]).any()


def test_missing_coordinates_where_required(data_dir, tmp_path):
    folder = tmp_path / "pdb"
    folder.mkdir()
    lines = (data_dir / "structures" / "pab1_rosetta_model.pdb").read_text().splitlines()
    first_ca = next(i for i, line in enumerate(lines) if line[12:16] == " CA ")
    (folder / "cut.pdb").write_text("\n".join(lines[:first_ca] + lines[first_ca + 1 :]) + "\n")
    card = write_card(tmp_path, "name: s\nsource: pdb\ncoordinates: required\n")
    with pytest.raises(DataError, match=r"cut.pdb: record 'cut': no C-alpha for 1 residues"):
        records(card)
    card.write_text(card.read_text().replace("required", "optional"))
    assert np.isnan(records(card)[0].ca).any(axis=1).sum() == 1


def test_chain_must_exist(data_dir):
    with pytest.raises(DataError, match=r"gb1_2qmt.pdb: no chain 'Q' \(chains: \['A'\]\)"):
        chain_residues(data_dir / "structures" / "gb1_2qmt.pdb", chain="Q")


def test_knn_edges_match_the_dense_graph_on_every_structure(data_dir):
    for path in sorted((data_dir / "structures").glob("*.pdb")):
        edges = knn_edges(chain_residues(path).ca, 8)
        dense = residue_graph(path, kind="knn", k=8, threshold=None)
        sparse = np.zeros_like(dense)
        sparse[edges[:, 0], edges[:, 1]] = True
        assert np.array_equal(dense, sparse), path.name


def test_one_card_reader_tells_the_kinds_apart(deeploc):
    with pytest.raises(DataError, match=r"is a protein set .kind: protein_set., not a variant"):
        read_card(deeploc)
    with pytest.raises(DataError, match="is a variant table, expected a card with kind"):
        load_protein_set_card("avgfp")
    deeploc.write_text(deeploc.read_text().replace("kind: protein_set", "kind: proteins"))
    with pytest.raises(DataError, match=r"kind: expected variants .the default. or protein_set"):
        read_card(deeploc)


def test_unknown_card_key_lists_the_valid_ones(tmp_path):
    card = write_card(tmp_path, "name: x\nsource: x.fasta\nchains: A\n")
    with pytest.raises(DataError, match=r"unknown key 'chains' \(valid keys: \['kind', 'name'"):
        read_protein_set_card(card)


def test_scl2205_as_published():
    card = load_protein_set_card("scl2205")
    spec = card.label("location")
    assert len(spec.classes) == 13
    got = list(read_protein_set(card))
    assert len(got) == 19_074 and len({r.id for r in got}) == 19_074
    assert Counter(r.split for r in got) == {"train": 15_183, "tune": 1_260, "test": 2_631}
    classes = Counter(r.labels["location"] for r in got)
    assert set(classes) == set(spec.classes)
    assert classes["Membrane"] == 4_718 and classes["Peroxisome"] == 136
    lengths = [len(r.sequence) for r in got]
    assert (min(lengths), max(lengths)) == (30, 4_924)


def test_scl2205_classes_are_the_packages_own():
    from importlib import metadata

    folder = Path(str(metadata.distribution("p-scldata").locate_file("scldata/data")))
    published = json.loads((folder / "labels.json").read_text())["index_to_label"]
    spec = load_protein_set_card("scl2205").label("location")
    assert [published[str(i)] for i in range(len(published))] == list(spec.classes)


def test_unknown_names_list_cards_of_the_kind_asked_for():
    with pytest.raises(DataError, match=r"unknown dataset 'scl': expected one of \['scl2205'\]"):
        load_protein_set_card("scl")
    with pytest.raises(DataError, match=r"expected one of \['avgfp'\]") as caught:
        load_card("scl")
    assert "scl2205" not in str(caught.value)
