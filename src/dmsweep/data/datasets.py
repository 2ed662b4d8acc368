"""The loaded `Dataset`: a dataset card's table as int8 residue codes.

A dataset is described by a YAML card (docs/data.md, `dmsweep.data.card`). Where its files
are read from is `DataSource.files_root`: the card's own folder for a card read from a file,
`<data dir>/<name>/` when a data directory is given (argument or $DMSWEEP_DATA_DIR), and
otherwise the download cache, verified against the card's sha256 values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dmsweep.data._files import FileSource, default_cache_dir, fetch, resolve_data_dir
from dmsweep.data.card import CARD_FILE, PACKAGED_CARDS, DatasetCard, load_card
from dmsweep.data.source import DataSource
from dmsweep.data.variants import count_mutations, encode_variants
from dmsweep.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CARD_FILE",
    "PACKAGED_CARDS",
    "Dataset",
    "DatasetCard",
    "FileSource",
    "default_cache_dir",
    "load_card",
    "load_dataset",
    "resolve_data_dir",
]


@dataclass(frozen=True, eq=False)  # arrays: compare datasets by identity
class Dataset:
    """One loaded dataset: variants, scores and int8 residue codes, row for row.

    `root` holds the files; `downloads` is True when `root` is the download cache, so that
    files needed later (splits) are fetched on demand. `checksums` maps each file read so far
    (path relative to `root`) to 'sha256:<hex>'.
    """

    card: DatasetCard
    root: Path
    variants: tuple[str, ...]
    scores: np.ndarray
    num_mutations: np.ndarray
    codes: np.ndarray
    checksums: dict[str, str]
    downloads: bool = False

    def __len__(self) -> int:
        return len(self.variants)

    def structure_path(self) -> Path:
        """The wild-type structure (PDB); DataError when the card names none."""
        if self.card.structure is None:
            raise DataError(f"dataset {self.card.name!r}: the card names no structure file")
        return self.file(self.card.structure)

    def file(self, rel: str) -> Path:
        """The path of one file of the dataset, verified (and fetched when from the cache)."""
        path, checksum = fetch(self.root, rel, self.card.files.get(rel), download=self.downloads)
        self.checksums.setdefault(rel, checksum)
        return path

    def has_file(self, rel: str) -> bool:
        return (self.root / rel).is_file() or (self.downloads and rel in self.card.files)

    def listed_files(self, folder: str) -> list[str]:
        """Paths (relative to `root`) of every file below `folder`, on disk or on the card."""
        prefix = folder.rstrip("/") + "/"
        names = {rel for rel in self.card.files if rel.startswith(prefix)}
        base = self.root / folder
        if base.is_dir():
            names.update(
                p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file()
            )
        return sorted(names)


def load_dataset(
    name_or_card: str | Path | DatasetCard,
    *,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    source: DataSource | None = None,
) -> Dataset:
    """Load a dataset's table (and verify its structure file) into int8 residue codes.

    Where the files come from is `source.files_root(card)` (default: a DataSource of
    `data_dir` and `cache_dir`, or their environment variables).
    """
    source = source or DataSource.resolve(data_dir, cache_dir)
    card = name_or_card if isinstance(name_or_card, DatasetCard) else source.card(str(name_or_card))
    root, downloads = source.files_root(card)
    checksums: dict[str, str] = {}
    table_path, checksums[card.table] = fetch(
        root, card.table, card.files.get(card.table), download=downloads
    )
    variants, scores = _read_table(table_path, card)
    codes = encode_variants(
        variants,
        card.wild_type,
        offset=card.offset,
        source=str(table_path),
        first_row=2,
        row_name="line",
    )
    dataset = Dataset(
        card=card,
        root=root,
        variants=tuple(variants),
        scores=scores,
        num_mutations=count_mutations(variants),
        codes=codes,
        checksums=checksums,
        downloads=downloads,
    )
    if card.structure is not None:
        dataset.structure_path()
    return dataset


def mutation_counts(card: DatasetCard, source: DataSource) -> np.ndarray:
    """int16 mutations per row of a dataset's table, without encoding it: what `run_builder`
    checks an extrapolation split against (counted from the variant column, and checked
    against the table's `num_mutations` column where it has one)."""
    root, downloads = source.files_root(card)
    path, _ = fetch(root, card.table, card.files.get(card.table), download=downloads)
    variants, _scores = _read_table(path, card)
    return count_mutations(variants)


def _read_table(path: Path, card: DatasetCard) -> tuple[list[str], np.ndarray]:
    """Variants and float32 scores; one-line DataError naming file and line for any problem."""
    import pandas as pd  # slow to import: only a training reads a table

    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:  # header=None: a row with an extra field must be an error, not become an index
        rows = pd.read_csv(
            path, sep=sep, header=None, dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        message = " ".join(str(err).split())
        raise DataError(f"{path}: cannot read the table: {message}") from None
    table = rows.iloc[1:].set_axis(rows.iloc[0].tolist(), axis=1).reset_index(drop=True)
    for column in (card.variant_column, card.score_column):
        if column not in table.columns:
            raise DataError(
                f"{path}, line 1: missing column {column!r} (found {list(table.columns)})"
            )
    if table.empty:
        raise DataError(f"{path}: the table has no rows")
    empty = (table == "").all(axis=1).to_numpy()
    if empty.any():
        raise DataError(f"{path}, line {int(np.argmax(empty)) + 2}: empty line")

    raw_scores = table[card.score_column]
    scores = pd.to_numeric(raw_scores, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(scores)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{path}, line {i + 2}: {card.score_column} {raw_scores.iloc[i]!r} is not a number"
        )

    variants = table[card.variant_column].tolist()
    repeated = table[card.variant_column].duplicated().to_numpy()
    if repeated.any():
        i = int(np.argmax(repeated))
        first = variants.index(variants[i])
        raise DataError(f"{path}, line {i + 2}: variant {variants[i]!r} repeats line {first + 2}")
    if "num_mutations" in table.columns:
        _check_num_mutations(path, variants, table["num_mutations"])
    return variants, scores.astype(np.float32)


def _check_num_mutations(path: Path, variants: list[str], column: pd.Series) -> None:
    import pandas as pd

    listed = pd.to_numeric(column, errors="coerce").to_numpy()
    counted = count_mutations(variants)
    wrong = listed != counted
    if wrong.any():
        i = int(np.argmax(wrong))
        raise DataError(
            f"{path}, line {i + 2}: num_mutations {column.iloc[i]!r} does not match variant "
            f"{variants[i]!r} ({counted[i]} mutations)"
        )
