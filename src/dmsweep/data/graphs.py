"""Residue graphs of a protein structure (distance threshold as in nn4dms, or kNN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def residue_graph(
    structure: Path,
    *,
    kind: str = "distance",
    threshold: float | None = 7.0,
    k: int | None = None,
    n_residues: int | None = None,
) -> np.ndarray:
    """bool (L, L) adjacency, symmetric, no self loops."""
    raise NotImplementedError
