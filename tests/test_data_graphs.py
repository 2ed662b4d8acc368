"""Residue graphs of the avGFP structure (distance threshold as published, and kNN)."""

from __future__ import annotations

import numpy as np
import pytest

from dmsweep.data import residue_graph
from dmsweep.errors import ConfigError, DataError

EDGES_7A = 848
"""Edges of the 7 A C-beta graph of avgfp_rosetta_model.pdb (nn4dms' rule; mean degree 7.2)."""


@pytest.fixture(scope="module")
def pdb(data_dir):
    return data_dir / "avgfp" / "avgfp_rosetta_model.pdb"


def assert_simple_graph(adjacency: np.ndarray, n: int) -> None:
    assert adjacency.shape == (n, n) and adjacency.dtype == bool
    assert np.array_equal(adjacency, adjacency.T)
    assert not adjacency.diagonal().any()


def test_distance_graph_at_7_angstrom(pdb):
    graph = residue_graph(pdb, n_residues=237)
    assert_simple_graph(graph, 237)
    assert graph.sum() // 2 == EDGES_7A
    assert graph[0, 1] and graph.sum(axis=1).min() >= 1


@pytest.mark.parametrize(("threshold", "edges"), [(4, 14), (6, 539), (10, 2063)])
def test_other_thresholds(pdb, threshold, edges):
    assert residue_graph(pdb, threshold=threshold).sum() // 2 == edges


def test_knn_graph_degree_is_at_least_k(pdb):
    for k in (1, 4, 8):
        graph = residue_graph(pdb, kind="knn", k=k, threshold=None)
        assert_simple_graph(graph, 237)
        assert graph.sum(axis=1).min() >= k
        assert graph.sum() // 2 >= 237 * k // 2


def test_structure_must_match_the_wild_type_length(pdb):
    with pytest.raises(DataError, match="the structure has 237 residues but the wild type has 238"):
        residue_graph(pdb, n_residues=238)


def test_bad_parameters(pdb, tmp_path):
    with pytest.raises(ConfigError, match="graph: expected one of"):
        residue_graph(pdb, kind="radius")
    with pytest.raises(ConfigError, match="threshold: expected a distance > 0"):
        residue_graph(pdb, threshold=None)
    with pytest.raises(ConfigError, match=r"k: expected 1 <= k < 237"):
        residue_graph(pdb, kind="knn", k=237)
    with pytest.raises(DataError, match="structure file not found"):
        residue_graph(tmp_path / "missing.pdb")


def test_hetero_residues_are_skipped_and_glycine_uses_c_alpha(tmp_path):
    lines = [
        "ATOM      1  CA  GLY A   1       0.000   0.000   0.000  1.00  0.00           C",
        "ATOM      2  CA  ALA A   2       6.500   0.000   0.000  1.00  0.00           C",
        "ATOM      3  CB  ALA A   2       8.000   0.000   0.000  1.00  0.00           C",
        "HETATM    4  O   HOH A 101       1.000   0.000   0.000  1.00  0.00           O",
        "END",
    ]
    path = tmp_path / "two.pdb"
    path.write_text("\n".join(lines) + "\n")
    assert residue_graph(path, n_residues=2).sum() == 0  # G CA to A CB: 8 A
    assert residue_graph(path, threshold=8.5).sum() == 2
    assert residue_graph(path, kind="knn", k=1).sum() == 2  # kNN by C-alpha: 6.5 A


def test_a_residue_without_c_alpha_is_an_error(tmp_path):
    path = tmp_path / "bad.pdb"
    path.write_text(
        "ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N\nEND\n"
    )
    with pytest.raises(DataError, match="residue GLY 1 of chain A has no C-alpha atom"):
        residue_graph(path)
