"""Train/tune/test row indices: published split folders or seeded random splits.

Every random draw uses `np.random.default_rng(split_seed)`, so a split is a pure function of
the dataset size and the data config:
- `split: random`: with `max_variants`, first a subset of that many rows (`rng.choice`
  without replacement), then one `rng.permutation` of the rows: the first
  `round(test_fraction * m)` are test, the next `round(tune_fraction * m)` tune, the rest train.
- `split: extrapolation`: the rows with at most `max_train_mutations` mutations form the pool,
  every other row is test; one `rng.permutation` of the pool: its first
  `round(tune_fraction * len(pool))` rows are tune, the rest train.
- `train_fraction` < 1: a fresh `default_rng(split_seed).permutation(train)` and its first
  `max(1, round(train_fraction * len(train)))` rows are kept; tune and test are unchanged.
  For one seed, a smaller fraction's training set is a subset of a larger one's.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmsweep.config import EXTRAPOLATION_SPLIT, RANDOM_SPLIT
from dmsweep.data.source import TEST_FILES, split_names, unknown_split
from dmsweep.errors import DataError

if TYPE_CHECKING:
    from dmsweep.config import DataConfig
    from dmsweep.data.datasets import Dataset

PARTS = ("train", "tune", "test")
ASSIGNMENT_CODES = {"train": 1, "tune": 2, "test": 3}
"""Values of `Split.assignment` (0: row unused)."""
__all__ = ["TEST_FILES", "Split", "extrapolation_split", "make_split", "published_splits"]


@dataclass(frozen=True, eq=False)  # arrays: compare splits by checksums()
class Split:
    """Sorted int64 row indices of the dataset for each part."""

    train: np.ndarray
    tune: np.ndarray
    test: np.ndarray

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "tune": self.tune, "test": self.test}

    def sizes(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.parts().items()}

    def checksums(self) -> dict[str, str]:
        """'sha256:<hex>' of each part: the hash of its sorted indices as little-endian int64 bytes.

        Reproduce elsewhere with `hashlib.sha256(np.asarray(rows, "<i8").tobytes())`.
        """
        return {
            name: "sha256:" + hashlib.sha256(np.asarray(rows, dtype="<i8").tobytes()).hexdigest()
            for name, rows in self.parts().items()
        }

    def assignment(self, n: int) -> np.ndarray:
        """int8 per dataset row: 0 unused, 1 train, 2 tune, 3 test."""
        out = np.zeros(n, dtype=np.int8)
        for name, rows in self.parts().items():
            if len(rows) and rows[-1] >= n:
                raise DataError(f"split {name}: row {rows[-1]} is beyond a dataset of {n} rows")
            out[rows] = ASSIGNMENT_CODES[name]
        return out


def make_split(dataset: Dataset, cfg: DataConfig) -> Split:
    """The split a data config asks for: a published split folder or a seeded random split."""
    if cfg.split == RANDOM_SPLIT:
        split = _random_split(len(dataset), cfg)
    elif cfg.split == EXTRAPOLATION_SPLIT:
        split = extrapolation_split(dataset.num_mutations, cfg)
    else:
        split = _published_split(dataset, cfg.split)
    if cfg.train_fraction < 1.0:
        split = _reduce_train(split, cfg.train_fraction, cfg.split_seed or 0)
    return split


def _random_split(n: int, cfg: DataConfig) -> Split:
    assert cfg.tune_fraction is not None and cfg.test_fraction is not None
    rng = np.random.default_rng(cfg.split_seed)
    rows = np.arange(n, dtype=np.int64)
    if cfg.max_variants is not None and cfg.max_variants < n:
        rows = rng.choice(n, size=cfg.max_variants, replace=False).astype(np.int64)
    order = rng.permutation(rows)
    m = len(order)
    n_test = round(cfg.test_fraction * m)
    n_tune = round(cfg.tune_fraction * m)
    if min(n_test, n_tune, m - n_test - n_tune) < 1:
        raise DataError(
            f"split random: {m} variants give an empty part with tune_fraction "
            f"{cfg.tune_fraction} and test_fraction {cfg.test_fraction}"
        )
    return Split(
        train=np.sort(order[n_test + n_tune :]),
        tune=np.sort(order[n_test : n_test + n_tune]),
        test=np.sort(order[:n_test]),
    )


def extrapolation_split(num_mutations: np.ndarray, cfg: DataConfig) -> Split:
    """Train and tune on variants with at most k mutations, test on those with more
    (`num_mutations`: one count per dataset row; also what `run_builder` checks a spec with)."""
    k, fraction = cfg.max_train_mutations, cfg.tune_fraction
    assert k is not None and fraction is not None
    pool = np.flatnonzero(num_mutations <= k).astype(np.int64)
    test = np.flatnonzero(num_mutations > k).astype(np.int64)
    order = np.random.default_rng(cfg.split_seed).permutation(pool)
    n_tune = round(fraction * len(order))
    if min(n_tune, len(order) - n_tune, len(test)) < 1:
        raise DataError(
            f"split extrapolation: max_train_mutations {k} leaves an empty part "
            f"({len(order) - n_tune} train, {n_tune} tune, {len(test)} test variants with "
            f"tune_fraction {fraction}; the dataset's variants have "
            f"{int(num_mutations.min())} to {int(num_mutations.max())} mutations)"
        )
    return Split(train=np.sort(order[n_tune:]), tune=np.sort(order[:n_tune]), test=test)


def _reduce_train(split: Split, fraction: float, seed: int) -> Split:
    keep = max(1, round(fraction * len(split.train)))
    train = np.random.default_rng(seed).permutation(split.train)[:keep]
    return Split(train=np.sort(train), tune=split.tune, test=split.test)


def published_splits(dataset: Dataset) -> list[str]:
    """Names of the dataset's published split folders (holding train, tune and test files)."""
    return list(split_names(dataset.card, dataset.root, dataset.downloads))


def _published_split(dataset: Dataset, name: str) -> Split:
    card = dataset.card
    if card.splits is None:
        raise DataError(
            f"dataset {card.name!r} has no published splits (its card sets no 'splits' folder): "
            f"use split: {RANDOM_SPLIT}"
        )
    folder = f"{card.splits.rstrip('/')}/{name.strip('/')}"
    test_file = next((f for f in TEST_FILES if dataset.has_file(f"{folder}/{f}")), TEST_FILES[0])
    files = {"train": "train.txt", "tune": "tune.txt", "test": test_file}
    for file_name in files.values():
        if not dataset.has_file(f"{folder}/{file_name}"):
            raise DataError(
                f"{dataset.root / folder / file_name}: split file not found: "
                + unknown_split(name, card.name, published_splits(dataset))
            )
    n = len(dataset)
    parts = {part: _read_indices(dataset, f"{folder}/{f}", n) for part, f in files.items()}
    for first, second in itertools.combinations(PARTS, 2):
        common = np.intersect1d(parts[first], parts[second])
        if len(common):
            raise DataError(
                f"{dataset.root / folder}: row {int(common[0])} is in both {files[first]} "
                f"and {files[second]}"
            )
    return Split(**parts)


def _read_indices(dataset: Dataset, rel: str, n: int) -> np.ndarray:
    """Sorted int64 row indices from a file of one 0-based index per line."""
    path = dataset.file(rel)
    rows: list[int] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        try:
            row = int(text)
        except ValueError:
            raise DataError(f"{path}, line {number}: {text!r} is not a row index") from None
        if not 0 <= row < n:
            raise DataError(
                f"{path}, line {number}: row index {row} is out of range (the table has {n} rows)"
            )
        rows.append(row)
    indices = np.asarray(rows, dtype=np.int64)
    indices.sort()
    repeated = np.flatnonzero(indices[1:] == indices[:-1])
    if len(repeated):
        raise DataError(f"{path}: row index {int(indices[repeated[0]])} is listed more than once")
    if not len(indices):
        raise DataError(f"{path}: no row indices")
    return indices
