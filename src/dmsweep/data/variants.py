"""Variant strings ("A108D,N144D") to int8 residue codes of the mutated wild type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ALPHABET: str = "ACDEFGHIKLMNPQRSTVWY*"
"""The nn4dms amino-acid order plus the stop codon; a residue's code is its index (0..20)."""

WILD_TYPE_NAMES = ("_wt", "")
"""Variant strings that mean the unmutated wild type."""


def encode_variants(
    variants: Sequence[str],
    wild_type: str,
    *,
    offset: int = 0,
    source: str = "<variants>",
) -> np.ndarray:
    """int8 (n, L) residue codes: the wild type with each variant's mutations applied."""
    raise NotImplementedError


def parse_variant_list(text: str) -> list[str]:
    """Split command-line input ("G177L,M189T L142K" or "a;b") into variant strings."""
    raise NotImplementedError
