"""Per-residue encoding tables: each row is one code of `ALPHABET`, each column one feature."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def encoding_table(
    names: Sequence[str], *, data_dir: Path | None = None, cache_dir: Path | None = None
) -> np.ndarray:
    """float32 (21, F): the named encodings side by side, in the order given."""
    raise NotImplementedError
