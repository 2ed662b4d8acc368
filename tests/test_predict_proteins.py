"""`dmsweep predict` with structure models trained on a protein set (docs/train.md#predict):
PDB files and document ids in, the training's own evaluation out again; `--attention`
weights (one per residue, summing to one per protein) and their plots; one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from test_train_proteins import GCN_SHARED, shared_structures_collection, train

from dmsweep.cli import main
from dmsweep.data.proteins import ProteinRecord, open_protein_source
from dmsweep.train.attention_plot import attention_layout, pca_layout
from dmsweep.train.predict_proteins import ProteinAttention, plot_file_name

TEST_PROTEIN = "ube4b_rosetta_model"


def test_pca_layout_is_a_rotation_with_a_fixed_sign():
    rng = np.random.default_rng(0)
    coords = np.cumsum(rng.normal(0, 2.0, (40, 3)), axis=0) * np.array([3.0, 1.0, 0.2])
    xy = pca_layout(coords)
    assert xy.shape == (40, 2)
    centred = coords - coords.mean(axis=0)
    # distances in the plane never exceed the 3-D ones; the main axis keeps most spread
    assert np.linalg.norm(xy[0] - xy[1]) <= np.linalg.norm(centred[0] - centred[1]) + 1e-9
    assert xy[:, 0].var() >= xy[:, 1].var()
    assert np.allclose(pca_layout(coords[::-1])[::-1], xy)  # same picture, whatever the order
    assert np.allclose(pca_layout(coords + 5.0), xy)


def test_layout_draws_each_edge_once_and_plot_names_are_safe():
    ca = np.arange(30, dtype=np.float32).reshape(10, 3) ** 1.1
    record = ProteinRecord(id="a/b", sequence="ACDEFGHIKL", ca=ca)
    edges = np.array([[0, 1], [1, 0], [1, 2], [2, 1]], dtype=np.int32)
    layout = attention_layout(ProteinAttention(record, np.full(10, 0.1), edges))
    assert layout.edges.tolist() == [[0, 1], [1, 2]]
    assert plot_file_name("a/b") == "a_b.png" and plot_file_name("../x") == "_x.png"


# ----------------------------------------------------------------- one real training, shared


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir) -> tuple[Path, str, Path]:
    """A gcn with attention pooling trained on the five shared structures (a synthetic
    size label) from SQLite: (job folder, database URI, structures folder)."""
    root = tmp_path_factory.mktemp("predict-proteins")
    structures = data_dir / "structures"
    db = root / "structures.db"
    shared_structures_collection(db, structures)
    config = {
        **GCN_SHARED,
        "max_epochs": 2,
        "dataset": {"db": f"sqlite://{db}", "collection": "shared"},
    }
    folder = train(config, root / "results", data_dir)
    return folder, f"sqlite://{db}", structures


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_a_pdb_file_and_a_document_id_give_the_trainings_own_probabilities(trained, tmp_path):
    folder, uri, structures = trained
    (evaluated,) = _rows(folder / "predictions.csv")
    assert evaluated["id"] == TEST_PROTEIN
    from_file, from_db = tmp_path / "file.csv", tmp_path / "db.csv"
    pdb = str(structures / f"{TEST_PROTEIN}.pdb")
    assert main(["predict", str(folder), pdb, "-o", str(from_file)]) == 0
    assert main(["predict", str(folder), TEST_PROTEIN, "--db", uri, "--collection", "shared",
                 "-o", str(from_db)]) == 0  # fmt: skip
    for path in (from_file, from_db):
        (row,) = _rows(path)
        assert row["id"] == TEST_PROTEIN
        assert row["predicted_class"] == evaluated["predicted_class"]
        for name in ("p_short", "p_long"):
            assert float(row[name]) == pytest.approx(float(evaluated[name]), abs=1e-5)


@pytest.mark.slow
def test_attention_sums_to_one_per_protein_and_is_plotted(trained, tmp_path, capsys):
    folder, uri, structures = trained
    files = sorted(str(p) for p in structures.glob("*.pdb"))
    plots = tmp_path / "plots"
    out = tmp_path / "scores.csv"
    assert main(["predict", str(folder), *files, "--attention", "--attention-dir", str(plots),
                 "-o", str(out)]) == 0  # fmt: skip
    assert len(_rows(out)) == 5
    rows = _rows(plots / "attention.csv")
    lengths = {r.id: len(r.sequence) for r in open_protein_source(str(structures))}
    for protein, length in lengths.items():
        mine = [r for r in rows if r["id"] == protein]
        assert [int(r["position"]) for r in mine] == list(range(1, length + 1))
        weights = np.array([float(r["attention"]) for r in mine])
        assert (weights > 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-4)  # 6 digits
        png = plots / f"{protein}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "attention of 5 proteins" in capsys.readouterr().err

    from dmsweep.train.predict_proteins import TrainedProteinJob, read_documents

    job = TrainedProteinJob(folder)
    exact = job.attention(read_documents(uri, "shared", sorted(lengths)))
    for one in exact:
        assert len(one.weights) == lengths[one.record.id]
        assert float(one.weights.sum()) == pytest.approx(1.0, abs=1e-5)


def _third_c_alpha(line: str) -> bool:
    """The ATOM record of residue 3's C-alpha (PDB columns: atom name 13-16, residue 23-26)."""
    return line.startswith("ATOM") and line[12:16] == " CA " and line[22:26].strip() == "3"


@pytest.mark.slow
@pytest.mark.parametrize(
    "given, expected",
    [
        (["NOTES"], "not a structure file (expected .pdb"),
        (["GARBAGE"], "no model in the structure"),
        (["MKTAYIAKQR"], "a bare sequence, but this job folder's gcn needs coordinates"),
        (["P_NOT_THERE", "--db", "URI", "--collection", "shared"], "has no document 'P_NOT_THERE'"),
        (["PDB", "--chain", "Z"], "no chain 'Z' (chains: ['A'])"),
        (["ube4b_rosetta_model", "--db", "URI"], "--db and --collection go together"),
        (["PDB", "--attention-dir", "plots"], "--attention-dir: only with --attention"),
        (["PDB", "--credentials", "NOTES"], "--credentials: only with --db"),
        (["NO_CA"], "record 'no_ca': no C-alpha for 1 residues"),
    ],
)
def test_bad_inputs_are_one_line_errors(trained, tmp_path, capsys, given, expected):
    folder, uri, structures = trained
    notes = tmp_path / "notes.txt"
    notes.write_text("not a protein\n")
    garbage = tmp_path / "garbage.pdb"
    garbage.write_text("this is not a PDB file\n")
    no_ca = tmp_path / "no_ca.pdb"  # gb1 with the C-alpha of its third residue removed
    lines = (structures / "gb1_2qmt.pdb").read_text().splitlines(keepends=True)
    no_ca.write_text("".join(line for line in lines if not _third_c_alpha(line)))
    names = {
        "NO_CA": str(no_ca),
        "NOTES": str(notes),
        "GARBAGE": str(garbage),
        "URI": uri,
        "PDB": str(structures / "gb1_2qmt.pdb"),
    }
    assert main(["predict", str(folder), *(names.get(a, a) for a in given)]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err
