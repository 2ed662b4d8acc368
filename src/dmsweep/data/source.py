"""Where a dataset's card and files come from: one `DataSource` for validation, data
gathering and the training job alike.

Read in this order: a card registered by path (`cards`), `<data_dir>/<name>/dataset.yaml`, a
packaged card. A dataset's files lie in its card's folder (a card read from a file),
else in `<data_dir>/<name>/`, else in the download cache. The AAindex table lies in
`<data_dir>/aaindex/`, else in the `aaindex/` folder beside a card's own folder (a card inside
a data directory), else in the cache. No NumPy, no pandas: the run builder reads this.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dmsweep.data._files import (
    ENV_CACHE_DIR,
    FileSource,
    default_cache_dir,
    resolve_data_dir,
)
from dmsweep.data.card import (
    KIND_PROTEIN_SET,
    DatasetCard,
    ProteinSetCard,
    find_card,
    load_card,
    looks_like_card_path,
    read_any_card,
    read_card,
)
from dmsweep.errors import DataError

AAINDEX_FOLDER = "aaindex"
AAINDEX_FILE = "pca-19.npy"
AAINDEX_SOURCE = FileSource(
    url="https://raw.githubusercontent.com/gitter-lab/nn4dms/"
    "434e354828f306cbb6796033ef1169cbe5207350/data/aaindex/pca-19.npy",
    sha256="d275ac4ae994960b87e2dc925999596befe6fd5480f6c6090ed1b90c042f5e65",
)
SPLIT_FILES = ("train.txt", "tune.txt")
TEST_FILES = ("test.txt", "stest.txt")
"""A published split's test part: `test.txt`, else nn4dms' `stest.txt` ("super test")."""
SPLITS_SHOWN = 5
"""How many split names an unknown-split error lists (closest first)."""


@dataclass(frozen=True)
class DataSource:
    """Data directory, download cache and cards given by path: where data is read from.

    Build it with `DataSource.resolve(...)`, which applies $DMSWEEP_DATA_DIR and
    $DMSWEEP_CACHE_DIR, so that every reader sees the same folders.
    """

    data_dir: Path | None = None
    cache_dir: Path | None = None
    cards: Mapping[str, Path] = field(default_factory=dict)
    """Dataset name -> card file, for datasets a spec or config named by card path."""

    @classmethod
    def resolve(
        cls, data_dir: Path | str | None = None, cache_dir: Path | str | None = None
    ) -> DataSource:
        """The argument, else the environment variable, for each folder."""
        cache = cache_dir or os.environ.get(ENV_CACHE_DIR) or None
        return cls(
            data_dir=resolve_data_dir(data_dir),
            cache_dir=Path(cache).expanduser() if cache else None,
        )

    @property
    def cache(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()

    def card(self, ref: str, *, relative_to: Path | None = None) -> DatasetCard:
        """The card a dataset reference names: a registered name, a name, or a card path
        (relative paths are tried against `relative_to`, e.g. the spec's folder, first)."""
        if ref in self.cards:
            return read_card(self.cards[ref])
        if looks_like_card_path(ref) and relative_to is not None:
            candidate = relative_to / Path(ref).expanduser()
            if not Path(ref).expanduser().is_absolute() and candidate.is_file():
                return read_card(candidate)
        return load_card(ref, data_dir=self.data_dir)

    def any_card(
        self, ref: str, *, relative_to: Path | None = None
    ) -> DatasetCard | ProteinSetCard:
        """The card a dataset reference names, a variant table or a protein set (`card`
        for a variant table: its errors name the known variant datasets)."""
        if ref in self.cards:
            return read_any_card(self.cards[ref])
        if looks_like_card_path(ref):
            candidate = Path(ref).expanduser()
            if relative_to is not None and not candidate.is_absolute():
                beside = relative_to / candidate
                candidate = beside if beside.is_file() else candidate
            if candidate.is_file():
                return read_any_card(candidate)
            return self.card(ref, relative_to=relative_to)
        try:
            path, packaged = find_card(ref, data_dir=self.data_dir, kind=KIND_PROTEIN_SET)
        except DataError:
            return self.card(ref, relative_to=relative_to)
        return read_any_card(path, packaged=packaged)

    def with_card(self, card: DatasetCard | ProteinSetCard) -> DataSource:
        """This source with a card read from a file registered under its dataset name."""
        assert card.path is not None
        return replace(self, cards={**self.cards, card.name: card.path})

    def files_root(self, card: DatasetCard) -> tuple[Path, bool]:
        """(folder of the dataset's files, whether missing files are downloaded into it)."""
        if card.folder is not None:
            return card.folder, False
        if self.data_dir is not None:
            return self.data_dir / card.name, False
        return self.cache / card.name, True

    def aaindex_root(self, card: DatasetCard | None = None) -> tuple[Path, bool]:
        """(folder holding pca-19.npy, whether it is downloaded into it)."""
        if self.data_dir is not None:
            return self.data_dir / AAINDEX_FOLDER, False
        if card is not None and card.folder is not None:
            beside = card.folder.parent / AAINDEX_FOLDER
            if (beside / AAINDEX_FILE).is_file():
                return beside, False
        return self.cache / AAINDEX_FOLDER, True

    def split_names(self, card: DatasetCard) -> tuple[str, ...]:
        """The card's published splits (see `split_names`)."""
        return split_names(card, *self.files_root(card))


def split_names(card: DatasetCard, root: Path, downloads: bool) -> tuple[str, ...]:
    """Published splits: folders below the card's `splits` holding train, tune and test
    files, on disk in `root` (or listed on the card, when missing files are downloaded)."""
    if not card.splits:
        return ()
    prefix = card.splits.rstrip("/") + "/"
    files = {rel for rel in card.files if rel.startswith(prefix)} if downloads else set()
    base = root / card.splits
    if base.is_dir():
        for train in base.rglob(SPLIT_FILES[0]):
            folder = train.parent
            files.update(
                f"{prefix}{(folder / name).relative_to(base).as_posix()}"
                for name in (*SPLIT_FILES, *TEST_FILES)
                if (folder / name).is_file()
            )
    return tuple(sorted(_complete_splits(files, prefix)))


def _complete_splits(files: Iterable[str], prefix: str) -> set[str]:
    present = set(files)
    names = set()
    for rel in present:
        if rel.endswith("/" + SPLIT_FILES[0]):
            folder = rel[: -len(SPLIT_FILES[0])]
            has_test = any(folder + t in present for t in TEST_FILES)
            if f"{folder}{SPLIT_FILES[1]}" in present and has_test:
                names.add(folder[len(prefix) : -1])
    return names


def unknown_split(name: str, dataset: str, names: Iterable[str]) -> str:
    """'no split X in dataset D (closest: a, b, ... of N; or random)': closest first, a few."""
    names = list(names)
    ranked = sorted(names, key=lambda n: (-difflib.SequenceMatcher(None, name, n).ratio(), n))
    shown = ", ".join(ranked[:SPLITS_SHOWN]) + (
        f", ... ({len(names)} in all)" if len(names) > SPLITS_SHOWN else ""
    )
    return (
        f"no split {name!r} in dataset {dataset!r} (published splits, closest first: "
        f"{shown or 'none'}; or random)"
    )
