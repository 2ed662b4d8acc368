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
