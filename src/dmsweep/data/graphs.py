"""Residue graphs of the wild-type structure: distance threshold (as in nn4dms) or kNN.

Nodes are the residues of the first chain of the first model in the PDB file (standard
residues only: waters and other HETATM records are skipped), in file order.
- `distance`: an edge joins two residues whose C-beta atoms (C-alpha when a residue has no
  C-beta, i.e. glycine) are closer than `threshold` Angstrom (strictly less, as nn4dms'
  `gen_structure_graph.py`). The published GCN used 7 A.
- `knn`: each residue is joined to its `k` nearest residues by C-alpha distance, then the
  graph is made symmetric (an edge if either end chose the other), so every degree is >= k.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dmsweep.config import GRAPH_KINDS
from dmsweep.errors import ConfigError, DataError


def residue_graph(
    structure: Path,
    *,
    kind: str = "distance",
    threshold: float | None = 7.0,
    k: int | None = None,
    n_residues: int | None = None,
) -> np.ndarray:
    """bool (L, L) adjacency, symmetric, no self loops.

    `n_residues` (the wild-type length) is checked against the structure: DataError if they
    differ, since node i must be residue i of the sequence.
    """
    if kind not in GRAPH_KINDS:
        raise ConfigError(f"graph: expected one of {list(GRAPH_KINDS)}, got {kind!r}")
    beta, alpha = residue_coordinates(structure)
    length = len(alpha)
    if n_residues is not None and n_residues != length:
        raise DataError(
            f"{structure}: the structure has {length} residues but the wild type has {n_residues}"
        )
    if kind == "distance":
        if threshold is None or not threshold > 0:
            raise ConfigError(f"threshold: expected a distance > 0 (Angstrom), got {threshold}")
        adjacency = _distances(beta) < threshold
    else:
        if k is None or not 1 <= k < length:
            raise ConfigError(f"k: expected 1 <= k < {length} (residues), got {k}")
        distances = _distances(alpha)
        np.fill_diagonal(distances, np.inf)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        adjacency = np.zeros((length, length), dtype=bool)
        adjacency[np.repeat(np.arange(length), k), nearest.ravel()] = True
        adjacency |= adjacency.T
    np.fill_diagonal(adjacency, False)
    return adjacency


def residue_coordinates(structure: Path) -> tuple[np.ndarray, np.ndarray]:
    """float64 (L, 3) C-beta (C-alpha for glycine) and (L, 3) C-alpha coordinates."""
    from Bio.PDB import PDBParser  # biopython is slow to import; only graphs need it

    path = Path(structure)
    if not path.is_file():
        raise DataError(f"{path}: structure file not found")
    try:
        parsed = PDBParser(QUIET=True).get_structure(path.stem, str(path))
        chain = next(iter(next(iter(parsed))))
    except StopIteration:
        raise DataError(f"{path}: no model or chain in the structure") from None
    except (ValueError, IndexError) as err:
        raise DataError(f"{path}: cannot parse the structure: {err}") from None
    beta, alpha = [], []
    for residue in chain:
        if residue.id[0] != " ":
            continue
        if "CA" not in residue:
            raise DataError(
                f"{path}: residue {residue.get_resname()} {residue.id[1]} of chain {chain.id} "
                "has no C-alpha atom"
            )
        alpha.append(residue["CA"].coord)
        beta.append(residue["CB"].coord if "CB" in residue else residue["CA"].coord)
    if not alpha:
        raise DataError(f"{path}: chain {chain.id} has no amino-acid residues")
    return np.asarray(beta, dtype=np.float64), np.asarray(alpha, dtype=np.float64)


def _distances(coords: np.ndarray) -> np.ndarray:
    return np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)


STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
"""Files a folder of structures is read from: PDB, else mmCIF (by suffix)."""


@dataclass(frozen=True)
class ChainResidues:
    """One chain's amino-acid residues in file order: one-letter sequence (X for a residue
    name biopython does not know) and float32 (L, 3) C-alpha and C-beta, NaN where an atom
    is missing (glycine has no C-beta), so a protein set keeps every residue of its
    sequence and a graph model can refuse what it cannot use."""

    chain: str
    sequence: str
    ca: np.ndarray
    cb: np.ndarray


def chain_residues(structure: Path, *, chain: str | None = None) -> ChainResidues:
    """The residues of `chain` (default: the first) of the first model of a PDB or mmCIF
    file; HETATM records (waters, ligands) are skipped."""
    from Bio.PDB import MMCIFParser, PDBParser
    from Bio.PDB.Polypeptide import protein_letters_3to1

    path = Path(structure)
    if not path.is_file():
        raise DataError(f"{path}: structure file not found")
    is_cif = path.suffix.lower() in (".cif", ".mmcif")
    parser = MMCIFParser(QUIET=True) if is_cif else PDBParser(QUIET=True)
    try:
        model = next(iter(parser.get_structure(path.stem, str(path))))
    except StopIteration:
        raise DataError(f"{path}: no model in the structure") from None
    except (ValueError, IndexError, KeyError) as err:
        raise DataError(f"{path}: cannot parse the structure: {err}") from None
    chains = [c.id for c in model]
    if not chains or (chain is not None and chain not in chains):
        raise DataError(f"{path}: no chain {chain!r} (chains: {chains})")
    picked = model[chain] if chain is not None else next(iter(model))
    letters, alpha, beta = [], [], []
    missing = np.full(3, np.nan, dtype=np.float32)
    for residue in picked:
        if residue.id[0] != " ":
            continue
        letters.append(protein_letters_3to1.get(residue.get_resname().upper(), "X"))
        alpha.append(residue["CA"].coord if "CA" in residue else missing)
        beta.append(residue["CB"].coord if "CB" in residue else missing)
    if not letters:
        raise DataError(f"{path}: chain {picked.id} has no amino-acid residues")
    return ChainResidues(
        chain=str(picked.id),
        sequence="".join(letters),
        ca=np.asarray(alpha, dtype=np.float32).reshape(-1, 3),
        cb=np.asarray(beta, dtype=np.float32).reshape(-1, 3),
    )


def knn_edges(ca: np.ndarray, k: int) -> np.ndarray:
    """int32 (E, 2) directed edges of the symmetrised kNN graph on C-alpha coordinates
    (both directions listed, sorted), as `residue_graph(kind="knn")` but with a neighbour
    search instead of an L x L distance matrix, so a 4,924-residue protein costs O(L k)."""
    from scipy.spatial import cKDTree

    coords = np.asarray(ca, dtype=np.float64)
    length = len(coords)
    if not 1 <= k < length:
        raise ConfigError(f"k: expected 1 <= k < {length} (residues), got {k}")
    if not np.isfinite(coords).all():
        raise DataError("a kNN graph needs a C-alpha for every residue (some are missing)")
    _, nearest = cKDTree(coords).query(coords, k=k + 1)
    rows = np.repeat(np.arange(length, dtype=np.int64), k + 1)
    cols = nearest.ravel().astype(np.int64)
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    # both directions, deduplicated as one int64 key per edge (np.unique(axis=0) is 20x slower)
    keys = np.unique(np.concatenate([rows * length + cols, cols * length + rows]))
    return np.stack([keys // length, keys % length], axis=1).astype(np.int32)


def distance_edges(coords: np.ndarray, threshold: float) -> np.ndarray:
    """int32 (E, 2) directed edges (both directions, sorted) between residues closer than
    `threshold` Angstrom (strictly, as `residue_graph(kind="distance")`), found with a
    neighbour search (cKDTree.query_pairs) instead of an L x L distance matrix."""
    from scipy.spatial import cKDTree

    points = np.asarray(coords, dtype=np.float64)
    if not threshold > 0:
        raise ConfigError(f"threshold: expected a distance > 0 (Angstrom), got {threshold}")
    if not np.isfinite(points).all():
        raise DataError("a distance graph needs a coordinate for every residue (some are missing)")
    length = len(points)
    radius = float(np.nextafter(threshold, 0.0))  # query_pairs is <= r: strictly below
    pairs = cKDTree(points).query_pairs(radius, output_type="ndarray").astype(np.int64)
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int32)
    rows, cols = pairs[:, 0], pairs[:, 1]
    keys = np.unique(np.concatenate([rows * length + cols, cols * length + rows]))
    return np.stack([keys // length, keys % length], axis=1).astype(np.int32)
