"""Dataset cards, the local data directory or download cache, and the loaded `Dataset`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FileSource:
    """Where one dataset file comes from and what it must hash to."""

    url: str
    sha256: str


@dataclass(frozen=True)
class DatasetCard:
    """A dataset's description, read from a small YAML file (see docs/data.md)."""

    name: str
    table: str
    wild_type: str
    offset: int
    structure: str | None
    splits: str | None
    files: dict[str, FileSource] = field(default_factory=dict)
    score_column: str = "score"
    variant_column: str = "variant"
    folder: Path | None = None
    """The card file's folder for a user card (its files live there); None for packaged cards."""


@dataclass(frozen=True)
class Dataset:
    """One loaded dataset: variants, scores and int8 residue codes, row for row."""

    card: DatasetCard
    root: Path
    variants: tuple[str, ...]
    scores: np.ndarray
    num_mutations: np.ndarray
    codes: np.ndarray
    checksums: dict[str, str]

    def structure_path(self) -> Path:
        raise NotImplementedError


def default_cache_dir() -> Path:
    raise NotImplementedError


def resolve_data_dir(data_dir: Path | str | None) -> Path | None:
    raise NotImplementedError


def load_card(name_or_path: str, *, data_dir: Path | None = None) -> DatasetCard:
    raise NotImplementedError


def load_dataset(
    name_or_card: str | DatasetCard,
    *,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
) -> Dataset:
    raise NotImplementedError
