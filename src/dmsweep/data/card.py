"""Dataset cards: the small YAML file that describes a dataset (docs/data.md).

Reading a card needs neither NumPy nor pandas, so the run builder validates a sweep against
its dataset (wild-type length, published splits) without paying for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmsweep._yaml import strict_yaml
from dmsweep.data._files import FileSource, resolve_data_dir
from dmsweep.errors import DataError

PACKAGED_CARDS = Path(__file__).resolve().parent / "cards"
CARD_FILE = "dataset.yaml"
"""A card inside a data directory: `<data dir>/<name>/dataset.yaml` (and in a job folder)."""

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
    "files": (
        "a mapping of file path -> [url, sha256], {url: ..., sha256: ...}, "
        "or {sha256: ...} / a bare sha256 for a local file without a download URL"
    ),
}
_REQUIRED_KEYS = ("name", "table", "wild_type")


@dataclass(frozen=True)
class DatasetCard:
    """A dataset's description, read from a small YAML file (see docs/data.md).

    `table`, `structure` and `splits` are paths relative to the dataset's folder. `files` lists
    the files of the dataset whose checksum is known (path -> sha256 and, if it can be
    downloaded, its url).
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
    path: Path | None = None
    """The YAML file the card was read from (copied into run and job folders)."""


def looks_like_card_path(ref: str) -> bool:
    """A dataset reference is a card path when it ends in .yaml/.yml or holds a '/'."""
    return ref.endswith((".yaml", ".yml")) or "/" in ref


def load_card(name_or_path: str | Path, *, data_dir: Path | None = None) -> DatasetCard:
    """A dataset card: a path to a YAML file, `<data dir>/<name>/dataset.yaml`, or a packaged one.

    Files named on a card read from a path are relative to that card's folder.
    """
    text = str(name_or_path)
    if looks_like_card_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise DataError(f"{path}: dataset card not found")
        return read_card(path)
    local = resolve_data_dir(data_dir)
    if local is not None and (local / text / CARD_FILE).is_file():
        return read_card(local / text / CARD_FILE)
    packaged = PACKAGED_CARDS / f"{text}.yaml"
    if packaged.is_file():
        return read_card(packaged, packaged=True)
    known = sorted(p.stem for p in PACKAGED_CARDS.glob("*.yaml"))
    if local is not None and local.is_dir():
        known += sorted(p.parent.name for p in local.glob(f"*/{CARD_FILE}"))
    where = f" or in {local}" if local is not None else " (no data directory given)"
    raise DataError(
        f"unknown dataset {text!r}: expected one of {known}{where}, or the path of a dataset "
        "card (.yaml)"
    )


def read_card(path: Path, *, packaged: bool = False) -> DatasetCard:
    """The card in one YAML file; its files lie beside it unless it is a packaged card."""
    try:
        raw = strict_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
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
        folder=None if packaged else path.resolve().parent,
        path=path.resolve(),
    )


def _read_files(path: Path, raw: Any, base_url: str) -> dict[str, FileSource]:
    if not isinstance(raw, Mapping):
        raise DataError(f"{path}: files: expected {_CARD_KEYS['files']}")
    files = {}
    for rel, entry in raw.items():
        url, sha = _file_entry(path, rel, entry)
        sha = str(sha).lower().removeprefix("sha256:")
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise DataError(
                f"{path}: files: {rel}: expected a sha256 of 64 hex digits, got {sha!r}"
            )
        if url is not None and "://" not in url:
            if not base_url:
                raise DataError(f"{path}: files: {rel}: relative url {url!r} needs base_url")
            url = base_url.rstrip("/") + "/" + url.lstrip("/")
        files[str(rel)] = FileSource(url=url, sha256=sha)
    return files


def _file_entry(path: Path, rel: Any, entry: Any) -> tuple[str | None, Any]:
    """(url or None, sha256) of one `files:` entry, in any of its documented forms."""
    if isinstance(entry, str):
        return None, entry  # a local file whose checksum is checked; nothing to download
    if isinstance(entry, Mapping) and set(entry) in ({"url", "sha256"}, {"sha256"}):
        url = entry.get("url")
        return (None if url is None else str(url)), entry["sha256"]
    if isinstance(entry, list | tuple) and len(entry) == 2:
        return str(entry[0]), entry[1]
    raise DataError(f"{path}: files: {rel}: expected {_CARD_KEYS['files']}, got {entry!r}")
