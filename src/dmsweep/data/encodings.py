"""Per-residue encoding tables: row i encodes residue code i (`ALPHABET[i]`), a column a feature.

A model turns int8 residue codes into features with one lookup in this table, so the dataset
never exists as a float tensor. As in nn4dms:
- `one_hot`: 21 columns, the identity (the stop codon has its own column).
- `aa_index`: 19 columns, the first 19 principal components of AAindex properties
  (nn4dms `data/aaindex/pca-19.npy`, rows in the order ACDEFGHIKLMNPQRSTVWY); stop is all zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dmsweep.config import ENCODINGS
from dmsweep.data._files import fetch
from dmsweep.data.card import DatasetCard
from dmsweep.data.source import AAINDEX_FILE, AAINDEX_FOLDER, AAINDEX_SOURCE, DataSource
from dmsweep.data.variants import ALPHABET
from dmsweep.errors import ConfigError, DataError

__all__ = ["AAINDEX_FILE", "AAINDEX_FOLDER", "AAINDEX_SOURCE", "encoding_table"]
WIDTHS = {"one_hot": len(ALPHABET), "aa_index": 19}
"""Columns each encoding adds."""


def encoding_table(
    names: Sequence[str],
    *,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    source: DataSource | None = None,
    card: DatasetCard | None = None,
) -> np.ndarray:
    """float32 (21, F): the named encodings side by side, in the order given.

    `("one_hot", "aa_index")` gives F = 40. The AAindex file is found by
    `DataSource.aaindex_root(card)`: `<data dir>/aaindex/`, the `aaindex/` beside the folder of
    `card` (a card inside a data directory), else downloaded into the cache.
    """
    source = source or DataSource.resolve(data_dir, cache_dir)
    if isinstance(names, str):
        names = names.split(",")
    if not names:
        raise ConfigError(f"encoding: expected at least one of {list(ENCODINGS)}")
    tables = []
    for name in names:
        if name == "one_hot":
            tables.append(np.eye(len(ALPHABET), dtype=np.float32))
        elif name == "aa_index":
            tables.append(_aa_index(*source.aaindex_root(card)))
        else:
            raise ConfigError(f"encoding: expected one of {list(ENCODINGS)}, got {name!r}")
    return np.concatenate(tables, axis=1)


def encoding_checksums(names: Sequence[str]) -> dict[str, str]:
    """'sha256:<hex>' of the data files behind the named encodings (verified when read)."""
    if "aa_index" in names:
        return {f"{AAINDEX_FOLDER}/{AAINDEX_FILE}": f"sha256:{AAINDEX_SOURCE.sha256}"}
    return {}


def _aa_index(root: Path, download: bool) -> np.ndarray:
    path, _ = fetch(root, AAINDEX_FILE, AAINDEX_SOURCE, download=download)
    features = np.load(path, allow_pickle=False)
    if features.shape != (20, WIDTHS["aa_index"]):
        raise DataError(f"{path}: expected a (20, 19) array, found shape {features.shape}")
    stop = np.zeros((1, features.shape[1]), dtype=np.float32)
    return np.concatenate([features.astype(np.float32), stop], axis=0)
