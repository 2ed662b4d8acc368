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
from dmsweep.data._files import FileSource, default_cache_dir, fetch, resolve_data_dir
from dmsweep.data.variants import ALPHABET
from dmsweep.errors import ConfigError, DataError

AAINDEX_FOLDER = "aaindex"
AAINDEX_FILE = "pca-19.npy"
AAINDEX_SOURCE = FileSource(
    url="https://raw.githubusercontent.com/gitter-lab/nn4dms/"
    "434e354828f306cbb6796033ef1169cbe5207350/data/aaindex/pca-19.npy",
    sha256="d275ac4ae994960b87e2dc925999596befe6fd5480f6c6090ed1b90c042f5e65",
)
WIDTHS = {"one_hot": len(ALPHABET), "aa_index": 19}
"""Columns each encoding adds."""


def encoding_table(
    names: Sequence[str], *, data_dir: Path | None = None, cache_dir: Path | None = None
) -> np.ndarray:
    """float32 (21, F): the named encodings side by side, in the order given.

    `("one_hot", "aa_index")` gives F = 40. The AAindex file is read from
    `<data dir>/aaindex/pca-19.npy` or downloaded into the cache, like dataset files.
    """
    if isinstance(names, str):
        names = names.split(",")
    if not names:
        raise ConfigError(f"encoding: expected at least one of {list(ENCODINGS)}")
    tables = []
    for name in names:
        if name == "one_hot":
            tables.append(np.eye(len(ALPHABET), dtype=np.float32))
        elif name == "aa_index":
            tables.append(_aa_index(data_dir, cache_dir))
        else:
            raise ConfigError(f"encoding: expected one of {list(ENCODINGS)}, got {name!r}")
    return np.concatenate(tables, axis=1)


def encoding_checksums(names: Sequence[str]) -> dict[str, str]:
    """'sha256:<hex>' of the data files behind the named encodings (verified when read)."""
    if "aa_index" in names:
        return {f"{AAINDEX_FOLDER}/{AAINDEX_FILE}": f"sha256:{AAINDEX_SOURCE.sha256}"}
    return {}


def _aa_index(data_dir: Path | None, cache_dir: Path | None) -> np.ndarray:
    local = resolve_data_dir(data_dir)
    root = (local if local is not None else (cache_dir or default_cache_dir())) / AAINDEX_FOLDER
    path, _ = fetch(root, AAINDEX_FILE, AAINDEX_SOURCE, download=local is None)
    features = np.load(path, allow_pickle=False)
    if features.shape != (20, WIDTHS["aa_index"]):
        raise DataError(f"{path}: expected a (20, 19) array, found shape {features.shape}")
    stop = np.zeros((1, features.shape[1]), dtype=np.float32)
    return np.concatenate([features.astype(np.float32), stop], axis=0)
