"""Dataset cards, where a dataset's files live, and the loaded `Dataset`.

A dataset is described by a YAML card (docs/data.md). Its files are read from
`<data dir>/<name>/` when a data directory is given (argument or $DMSWEEP_DATA_DIR), from the
card's own folder for a card given by path, and otherwise downloaded from the URLs on the card
into a cache (`default_cache_dir()`) and verified against the card's sha256 values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from dmsweep.data._files import (
    FileSource,
    default_cache_dir,
    fetch,
    resolve_data_dir,
)
from dmsweep.data.variants import count_mutations, encode_variants
from dmsweep.errors import DataError

PACKAGED_CARDS = Path(__file__).resolve().parent / "cards"
CARD_FILE = "dataset.yaml"
"""A card inside a data directory: `<data dir>/<name>/dataset.yaml`."""

_CARD_KEYS = {
    "name": "a name (str)",
    "table": "the table file name (str)",
    "wild_type": "the wild-type sequence (str)",
    "offset": "the position of the first wild-type residue (int, default 0)",
    "structure": "a PDB file name (str) or null",
    "splits": "the folder of published splits (str) or null",
    "score_column": "the column to predict (str, default 'score')",
    "variant_column": "the column of variants (str, default 'variant')",
    "description": "free text",
    "base_url": "the URL that relative file URLs are joined to",
    "files": "a mapping of file path -> [url, sha256] or {url: ..., sha256: ...}",
}
_REQUIRED_KEYS = ("name", "table", "wild_type")


@dataclass(frozen=True)
class DatasetCard:
    """A dataset's description, read from a small YAML file (see docs/data.md).

    `table`, `structure` and `splits` are paths relative to the dataset's folder. `files` lists
    every file of the dataset that can be downloaded and checked (path -> url and sha256).
    """

    name: str
    table: str
    wild_type: str
    offset: int
    structure: str | None
    splits: str | None
    files: dict[str, FileSource] = field(default_factory=dict)
    score_column: str = "score"
    variant_column: str = "variant"
    description: str = ""
    folder: Path | None = None
    """The dataset's own folder for a card read from a file (its files lie beside it);
    None for a packaged card, whose files come from a data directory or the cache."""


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


def load_card(name_or_path: str | Path, *, data_dir: Path | None = None) -> DatasetCard:
    """A dataset card: a path to a YAML file, `<data dir>/<name>/dataset.yaml`, or a packaged one.

    Files named on a card read from a path are relative to that card's folder.
    """
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise DataError(f"{path}: dataset card not found")
        return _read_card(path, folder=path.resolve().parent)
    local = resolve_data_dir(data_dir)
    if local is not None and (local / text / CARD_FILE).is_file():
        return _read_card(local / text / CARD_FILE, folder=local / text)
    packaged = PACKAGED_CARDS / f"{text}.yaml"
    if packaged.is_file():
        return _read_card(packaged, folder=None)
    known = sorted(p.stem for p in PACKAGED_CARDS.glob("*.yaml"))
    if local is not None and local.is_dir():
        known += sorted(p.parent.name for p in local.glob(f"*/{CARD_FILE}"))
    raise DataError(
        f"unknown dataset {text!r}: expected one of {known} or the path of a dataset card (.yaml)"
    )


def load_dataset(
    name_or_card: str | Path | DatasetCard,
    *,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
) -> Dataset:
    """Load a dataset's table (and verify its structure file) into int8 residue codes.

    Where the files come from: the card's own folder for a card read from a file, else
    `<data_dir>/<name>/` (argument or $DMSWEEP_DATA_DIR), else the download cache
    (`cache_dir`, default $DMSWEEP_CACHE_DIR or ~/.cache/dmsweep).
    """
    card = (
        name_or_card
        if isinstance(name_or_card, DatasetCard)
        else load_card(name_or_card, data_dir=data_dir)
    )
    local = resolve_data_dir(data_dir)
    if card.folder is not None:
        root, downloads = card.folder, False
    elif local is not None:
        root, downloads = local / card.name, False
    else:
        root, downloads = (cache_dir or default_cache_dir()) / card.name, True
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


def _read_table(path: Path, card: DatasetCard) -> tuple[list[str], np.ndarray]:
    """Variants and float32 scores; one-line DataError naming file and line for any problem."""
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
    listed = pd.to_numeric(column, errors="coerce").to_numpy()
    counted = count_mutations(variants)
    wrong = listed != counted
    if wrong.any():
        i = int(np.argmax(wrong))
        raise DataError(
            f"{path}, line {i + 2}: num_mutations {column.iloc[i]!r} does not match variant "
            f"{variants[i]!r} ({counted[i]} mutations)"
        )


def _read_card(path: Path, *, folder: Path | None) -> DatasetCard:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        message = " ".join(str(err).split())
        raise DataError(f"{path}: cannot read the dataset card: {message}") from None
    if not isinstance(raw, Mapping):
        raise DataError(f"{path}: a dataset card is a YAML mapping with keys {list(_CARD_KEYS)}")
    for key in raw:
        if key not in _CARD_KEYS:
            raise DataError(f"{path}: unknown key {key!r} (valid keys: {list(_CARD_KEYS)})")
    for key in _REQUIRED_KEYS:
        if key not in raw:
            raise DataError(f"{path}: missing key {key!r}: {_CARD_KEYS[key]}")

    def text(key: str, default: str | None = None, *, optional: bool = False) -> Any:
        value = raw.get(key, default)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{path}: {key}: expected {_CARD_KEYS[key]}, got {value!r}")
        return value.strip()

    offset = raw.get("offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise DataError(f"{path}: offset: expected {_CARD_KEYS['offset']}, got {offset!r}")
    base_url = text("base_url", optional=True) or ""
    return DatasetCard(
        name=text("name"),
        table=text("table"),
        wild_type="".join(text("wild_type").split()),
        offset=offset,
        structure=text("structure", optional=True),
        splits=text("splits", optional=True),
        files=_read_files(path, raw.get("files") or {}, base_url),
        score_column=text("score_column", "score"),
        variant_column=text("variant_column", "variant"),
        description=" ".join(str(raw.get("description") or "").split()),
        folder=folder,
    )


def _read_files(path: Path, raw: Any, base_url: str) -> dict[str, FileSource]:
    if not isinstance(raw, Mapping):
        raise DataError(f"{path}: files: expected {_CARD_KEYS['files']}")
    files = {}
    for rel, entry in raw.items():
        if isinstance(entry, Mapping) and set(entry) == {"url", "sha256"}:
            url, sha = entry["url"], entry["sha256"]
        elif isinstance(entry, list | tuple) and len(entry) == 2:
            url, sha = entry
        else:
            raise DataError(f"{path}: files: {rel}: expected [url, sha256], got {entry!r}")
        sha = str(sha).lower().removeprefix("sha256:")
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise DataError(
                f"{path}: files: {rel}: expected a sha256 of 64 hex digits, got {sha!r}"
            )
        url = str(url)
        if "://" not in url:
            if not base_url:
                raise DataError(f"{path}: files: {rel}: relative url {url!r} needs base_url")
            url = base_url.rstrip("/") + "/" + url.lstrip("/")
        files[str(rel)] = FileSource(url=url, sha256=sha)
    return files
