"""Train/tune/test row indices: published split folders or seeded random splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dmsweep.config import DataConfig
    from dmsweep.data.datasets import Dataset


@dataclass(frozen=True)
class Split:
    """Sorted int64 row indices of the dataset for each part."""

    train: np.ndarray
    tune: np.ndarray
    test: np.ndarray

    def checksums(self) -> dict[str, str]:
        """'sha256:<hex>' of each part's sorted little-endian int64 index bytes."""
        raise NotImplementedError

    def assignment(self, n: int) -> np.ndarray:
        """int8 per dataset row: 0 unused, 1 train, 2 tune, 3 test."""
        raise NotImplementedError


def make_split(dataset: Dataset, cfg: DataConfig) -> Split:
    """The split a data config asks for (published folder or seeded random)."""
    raise NotImplementedError
