"""Dataset cards: the small YAML file that describes a dataset (docs/data.md).

Two kinds, one reader: a variant table (the default, `DatasetCard`) and a protein set
(`kind: protein_set`, `ProteinSetCard`: one record per protein from FASTA, a CSV/TSV table or
a folder of structures). Reading a card needs neither NumPy nor pandas, so the run builder
validates a sweep against its dataset (wild-type length, published splits) without paying
for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmsweep._yaml import strict_yaml
from dmsweep.data._files import FileSource, resolve_data_dir
from dmsweep.errors import DataError

KIND_VARIANTS = "variants"
KIND_PROTEIN_SET = "protein_set"
PACKAGED_CARDS = Path(__file__).resolve().parent / "cards"
CARD_FILE = "dataset.yaml"
"""A card inside a data directory: `<data dir>/<name>/dataset.yaml` (and in a job folder)."""

_CARD_KEYS = {
    "kind": "variants (the default) or protein_set",
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
    """A variant dataset's card: a path to a YAML file, `<data dir>/<name>/dataset.yaml`, or a
    packaged one. Files named on a card read from a path are relative to that card's folder.
    """
    path, packaged = find_card(name_or_path, data_dir=data_dir, kind=KIND_VARIANTS)
    return read_card(path, packaged=packaged)


def load_protein_set_card(
    name_or_path: str | Path, *, data_dir: Path | None = None
) -> ProteinSetCard:
    """A protein set's card, found as `load_card` finds a variant dataset's."""
    path, packaged = find_card(name_or_path, data_dir=data_dir, kind=KIND_PROTEIN_SET)
    return read_protein_set_card(path, packaged=packaged)


def find_card(
    name_or_path: str | Path, *, data_dir: Path | None = None, kind: str = KIND_VARIANTS
) -> tuple[Path, bool]:
    """(card file, is packaged) for a card path, `<data dir>/<name>/dataset.yaml`, or a
    packaged card, in that order; DataError listing the known names of cards of `kind`
    otherwise (a variant sweep is not offered a protein set, nor the reverse)."""
    text = str(name_or_path)
    if looks_like_card_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise DataError(f"{path}: dataset card not found")
        return path, False
    local = resolve_data_dir(data_dir)
    if local is not None and (local / text / CARD_FILE).is_file():
        return local / text / CARD_FILE, False
    packaged = PACKAGED_CARDS / f"{text}.yaml"
    if packaged.is_file():
        return packaged, True
    known = sorted(p.stem for p in PACKAGED_CARDS.glob("*.yaml") if _kind_of(p) == kind)
    if local is not None and local.is_dir():
        known += sorted(p.parent.name for p in local.glob(f"*/{CARD_FILE}") if _kind_of(p) == kind)
    where = f" or in {local}" if local is not None else " (no data directory given)"
    raise DataError(
        f"unknown dataset {text!r}: expected one of {known}{where}, or the path of a dataset "
        "card (.yaml)"
    )


def _kind_of(path: Path) -> str:
    """The `kind` a card file declares (variants when absent or unreadable: read_card then
    reports the real problem)."""
    try:
        raw = strict_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return KIND_VARIANTS
    return str(raw.get("kind", KIND_VARIANTS)) if isinstance(raw, Mapping) else KIND_VARIANTS


def read_card(path: Path, *, packaged: bool = False) -> DatasetCard:
    """The variant card in one YAML file; its files lie beside it unless it is packaged."""
    card = read_any_card(path, packaged=packaged)
    if not isinstance(card, DatasetCard):
        raise DataError(
            f"{path}: {card.name!r} is a protein set (kind: protein_set), not a variant table: "
            "use it with `dmsweep db ingest`"
        )
    return card


def read_protein_set_card(path: Path, *, packaged: bool = False) -> ProteinSetCard:
    """The protein-set card in one YAML file (DataError for a variant card)."""
    card = read_any_card(path, packaged=packaged)
    if not isinstance(card, ProteinSetCard):
        raise DataError(
            f"{path}: {card.name!r} is a variant table, expected a card with kind: protein_set"
        )
    return card


def read_any_card(path: Path, *, packaged: bool = False) -> DatasetCard | ProteinSetCard:
    """The one card reader: the `kind` key decides which record the YAML becomes."""
    try:
        raw = strict_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        message = " ".join(str(err).split())
        raise DataError(f"{path}: cannot read the dataset card: {message}") from None
    if not isinstance(raw, Mapping):
        raise DataError(f"{path}: a dataset card is a YAML mapping with keys {list(_CARD_KEYS)}")
    kind = raw.get("kind", KIND_VARIANTS)
    if kind == KIND_PROTEIN_SET:
        return _read_protein_set(path, raw, packaged=packaged)
    if kind != KIND_VARIANTS:
        raise DataError(f"{path}: kind: expected {_CARD_KEYS['kind']}, got {kind!r}")
    return _read_variant_card(path, raw, packaged=packaged)


def _read_variant_card(path: Path, raw: Mapping[str, Any], *, packaged: bool) -> DatasetCard:
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


# ------------------------------------------------------------------------------ protein sets

STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
STRUCTURE_FOLDER_FORMAT = "structures"
SOURCE_FORMATS = ("fasta", "csv", "tsv", STRUCTURE_FOLDER_FORMAT)
COORDINATES = ("optional", "required")
ON_BAD_RECORD = ("error", "skip")
SPLIT_PARTS = ("train", "tune", "test")

_PROTEIN_SET_KEYS = {
    "kind": "protein_set",
    "name": "a name (str)",
    "description": "free text",
    "source": "the FASTA file, CSV/TSV table or folder of PDB/mmCIF files (str)",
    "format": f"one of {list(SOURCE_FORMATS)} (default: from the source's suffix)",
    "header": "FASTA header fields, e.g. '{id} {location}-{membrane} {split?}' (default '{id}')",
    "id_column": "the table column of protein ids (default 'id')",
    "sequence_column": "the table column of sequences (default 'sequence')",
    "split_column": "the table column of train/tune/test (optional)",
    "labels": "a mapping of label name -> {column, classes, coded} (classes absent: a number)",
    "splits": "a published split as id lists: {file, ids, parts: {train, tune, test}}",
    "residues": f"the letters a sequence may hold (default {STANDARD_RESIDUES})",
    "coordinates": f"one of {list(COORDINATES)}: whether every residue needs a C-alpha",
    "chain": "the chain of each structure file (default: the first chain)",
    "on_bad_record": f"one of {list(ON_BAD_RECORD)} (default error)",
    "package": "{distribution, version, folder}: the files ship in an installed package",
    "base_url": "the URL that relative file URLs are joined to",
    "files": _CARD_KEYS["files"],
}
_LABEL_KEYS = ("column", "classes", "coded")


@dataclass(frozen=True)
class LabelSpec:
    """One label of a protein set: a class label when `classes` is given, else a number.

    `coded`: the source holds the 0-based index into `classes`, not the class name.
    """

    name: str
    column: str
    classes: tuple[str, ...] | None = None
    coded: bool = False


@dataclass(frozen=True)
class PublishedSplit:
    """A split published as lists of ids (or of indices into an `ids` file) per part."""

    file: str
    parts: dict[str, str]
    """dmsweep's part (train, tune, test) -> the key of its list in `file`."""
    ids: str | None = None
    """A JSON mapping of index -> protein id, when `file` lists indices."""


@dataclass(frozen=True)
class PackageSource:
    """The dataset's files lie in an installed distribution (e.g. p-scldata)."""

    distribution: str
    version: str
    folder: str


@dataclass(frozen=True)
class ProteinSetCard:
    """A protein set's description (`kind: protein_set`, docs/data.md)."""

    name: str
    source: str
    format: str
    header: str = "{id}"
    id_column: str = "id"
    sequence_column: str = "sequence"
    split_column: str | None = None
    labels: tuple[LabelSpec, ...] = ()
    splits: PublishedSplit | None = None
    residues: str = STANDARD_RESIDUES
    coordinates: str = "optional"
    chain: str | None = None
    on_bad_record: str = "error"
    package: PackageSource | None = None
    files: dict[str, FileSource] = field(default_factory=dict)
    description: str = ""
    folder: Path | None = None
    """The card's own folder for a card read from a file; None for a packaged card."""
    path: Path | None = None

    def label(self, name: str) -> LabelSpec:
        """The label called `name`; DataError naming the card's labels otherwise."""
        for spec in self.labels:
            if spec.name == name:
                return spec
        known = [spec.name for spec in self.labels]
        raise DataError(f"{self.path}: no label {name!r} on the card (labels: {known})")


def _read_protein_set(path: Path, raw: Mapping[str, Any], *, packaged: bool) -> ProteinSetCard:
    """A `kind: protein_set` card, every key checked (one line naming key and expectation)."""
    for key in raw:
        if key not in _PROTEIN_SET_KEYS:
            raise DataError(f"{path}: unknown key {key!r} (valid keys: {list(_PROTEIN_SET_KEYS)})")
    for key in ("name", "source"):
        if key not in raw:
            raise DataError(f"{path}: missing key {key!r}: {_PROTEIN_SET_KEYS[key]}")

    def text(key: str, default: str | None = None) -> Any:
        value = raw.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{path}: {key}: expected {_PROTEIN_SET_KEYS[key]}, got {value!r}")
        return value.strip()

    def choice(key: str, options: tuple[str, ...], default: str) -> str:
        value = raw.get(key, default)
        if value not in options:
            raise DataError(f"{path}: {key}: expected one of {list(options)}, got {value!r}")
        return str(value)

    source = text("source")
    default_format = format_of_source(source)
    residues = "".join(text("residues", STANDARD_RESIDUES).split()).upper()
    return ProteinSetCard(
        name=text("name"),
        source=source,
        format=choice("format", SOURCE_FORMATS, default_format),
        header=text("header", "{id}"),
        id_column=text("id_column", "id"),
        sequence_column=text("sequence_column", "sequence"),
        split_column=text("split_column"),
        labels=_read_labels(path, raw.get("labels") or {}),
        splits=_read_published_split(path, raw.get("splits")),
        residues=residues,
        coordinates=choice("coordinates", COORDINATES, "optional"),
        chain=None if raw.get("chain") is None else str(raw["chain"]),
        on_bad_record=choice("on_bad_record", ON_BAD_RECORD, "error"),
        package=_read_package(path, raw.get("package")),
        files=_read_files(path, raw.get("files") or {}, text("base_url") or ""),
        description=" ".join(str(raw.get("description") or "").split()),
        folder=None if packaged else path.resolve().parent,
        path=path.resolve(),
    )


def format_of_source(source: str) -> str:
    """The source format its name implies: .fasta/.fa, .csv, .tsv/.txt, else a folder."""
    suffix = Path(source).suffix.lower()
    if suffix in (".fasta", ".fa", ".faa", ".fas"):
        return "fasta"
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".tab", ".txt"):
        return "tsv"
    return STRUCTURE_FOLDER_FORMAT


def _read_labels(path: Path, raw: Any) -> tuple[LabelSpec, ...]:
    if not isinstance(raw, Mapping):
        raise DataError(f"{path}: labels: expected {_PROTEIN_SET_KEYS['labels']}")
    specs = []
    for name, entry in raw.items():
        where = f"{path}: labels: {name}"
        entry = {} if entry is None else entry
        if not isinstance(entry, Mapping) or set(entry) - set(_LABEL_KEYS):
            raise DataError(f"{where}: expected a mapping with keys {list(_LABEL_KEYS)}")
        classes = entry.get("classes")
        if classes is not None and (
            not isinstance(classes, list)
            or not classes
            or len({str(c) for c in classes}) != len(classes)
        ):
            raise DataError(f"{where}: classes: expected a list of distinct class names")
        coded = entry.get("coded", False)
        if not isinstance(coded, bool) or (coded and classes is None):
            raise DataError(f"{where}: coded: expected true or false (true needs classes)")
        column = entry.get("column", name)
        specs.append(
            LabelSpec(
                name=str(name),
                column=str(column),
                classes=None if classes is None else tuple(str(c) for c in classes),
                coded=coded,
            )
        )
    return tuple(specs)


def _read_published_split(path: Path, raw: Any) -> PublishedSplit | None:
    if raw is None:
        return None
    expected = _PROTEIN_SET_KEYS["splits"]
    if not isinstance(raw, Mapping) or "file" not in raw or set(raw) - {"file", "ids", "parts"}:
        raise DataError(f"{path}: splits: expected {expected}")
    parts = raw.get("parts") or {part: part for part in SPLIT_PARTS}
    if not isinstance(parts, Mapping) or set(parts) - set(SPLIT_PARTS):
        raise DataError(f"{path}: splits: parts: expected keys among {list(SPLIT_PARTS)}")
    ids = raw.get("ids")
    return PublishedSplit(
        file=str(raw["file"]),
        parts={str(k): str(v) for k, v in parts.items()},
        ids=None if ids is None else str(ids),
    )


def _read_package(path: Path, raw: Any) -> PackageSource | None:
    if raw is None:
        return None
    keys = {"distribution", "version", "folder"}
    if not isinstance(raw, Mapping) or set(raw) != keys:
        raise DataError(f"{path}: package: expected {_PROTEIN_SET_KEYS['package']}")
    return PackageSource(**{key: str(raw[key]) for key in sorted(keys)})
