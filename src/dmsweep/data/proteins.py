"""Protein sets: one `ProteinRecord` per protein, read from the source a card describes.

Sources (docs/data.md): a FASTA file (labels and split from the header, e.g. DeepLoc's
`>Q9SMX3 Mitochondrion-M test` with `header: "{id} {location}-{membrane} {split?}"`), a
CSV/TSV table, or a folder of PDB/mmCIF files (biopython; the card's chain). Records are
read one at a time (a million-protein FASTA is never held whole); each is checked against
the card, and a bad one (unknown residue, missing C-alpha where the card requires
coordinates, a label outside the card's classes, a repeated id) is a one-line `DataError`
naming the file and the record, or is skipped and counted with `on_bad_record: skip`.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

import numpy as np

from dmsweep.core.files import sha256_of
from dmsweep.data._files import resolve_data_dir
from dmsweep.data.card import (
    STRUCTURE_FOLDER_FORMAT,
    LabelSpec,
    ProteinSetCard,
    format_of_source,
    load_protein_set_card,
)
from dmsweep.data.graphs import STRUCTURE_SUFFIXES, chain_residues
from dmsweep.errors import DataError

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "tune": "tune",
    "valid": "tune",
    "validation": "tune",
    "eval": "tune",
    "dev": "tune",
    "test": "test",
    "heldout": "test",
}
"""Split names a source may use -> dmsweep's part (the tune split is where models are chosen)."""
SHOWN_SKIPS = 3
"""How many skipped records' reasons a reading keeps (the count is always exact)."""

Label = str | float


@dataclass(frozen=True)
class ProteinRecord:
    """One protein: id, sequence, optional per-residue coordinates, labels, optional split.

    `ca` and `cb` are float32 (L, 3) with NaN rows for a missing atom (glycine has no
    C-beta), or None when the source has no structure.
    """

    id: str
    sequence: str
    labels: Mapping[str, Label] = field(default_factory=dict)
    ca: np.ndarray | None = None
    cb: np.ndarray | None = None
    split: str | None = None

    def __post_init__(self) -> None:
        for name in ("ca", "cb"):
            coords = getattr(self, name)
            if coords is not None and coords.shape != (len(self.sequence), 3):
                raise DataError(
                    f"record {self.id!r}: {name} has shape {coords.shape}, expected "
                    f"({len(self.sequence)}, 3) for its {len(self.sequence)} residues"
                )


@dataclass(frozen=True)
class RawRecord:
    """A record as a source gives it, before the card's checks: `where` names file and line."""

    where: str
    id: str
    sequence: str
    fields: Mapping[str, str]
    """Label and split values by the card's column (table) or header field (FASTA) name."""
    ca: np.ndarray | None = None
    cb: np.ndarray | None = None
    error: str | None = None
    """Why the source could not give this record (an unreadable structure file)."""


@dataclass
class ProteinSetReading:
    """The records of a protein set, read on iteration; `skipped` counts the bad records
    left out (with `on_bad_record: skip`) once iteration is done."""

    card: ProteinSetCard
    folder: Path
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)

    @property
    def source(self) -> Path:
        return self.folder / self.card.source

    def __iter__(self) -> Iterator[ProteinRecord]:
        published = _published_split(self.card, self.folder)
        seen: set[str] = set()
        for raw in _raw_records(self.card, self.source):
            try:
                record = check_record(self.card, raw, seen, published)
            except DataError as err:
                if self.card.on_bad_record == "error":
                    raise
                self.skipped += 1
                if len(self.skip_reasons) < SHOWN_SKIPS:
                    self.skip_reasons.append(str(err))
                continue
            seen.add(record.id)
            yield record


def read_protein_set(
    card: ProteinSetCard, *, data_dir: Path | None = None, verify: bool = True
) -> ProteinSetReading:
    """The records of the set `card` describes, from its folder (a card read from a file),
    its package (`package:`) or `<data dir>/<name>/`; listed files are checksum-verified."""
    folder = protein_set_folder(card, data_dir=data_dir)
    if verify:
        verify_files(card, folder)
    if not (folder / card.source).exists():
        raise DataError(f"{folder / card.source}: source of protein set {card.name!r} not found")
    return ProteinSetReading(card=card, folder=folder)


def protein_set_folder(card: ProteinSetCard, *, data_dir: Path | None = None) -> Path:
    """Where the set's files lie: the card's folder, its installed package, the data dir."""
    if card.folder is not None:
        return card.folder
    if card.package is not None:
        return _package_folder(card)
    local = resolve_data_dir(data_dir)
    if local is None:
        raise DataError(
            f"protein set {card.name!r}: no data directory (set DMSWEEP_DATA_DIR or --data-dir)"
        )
    return local / card.name


def _package_folder(card: ProteinSetCard) -> Path:
    assert card.package is not None
    wanted = card.package
    try:
        found = metadata.distribution(wanted.distribution)
    except metadata.PackageNotFoundError:
        raise DataError(
            f"protein set {card.name!r}: package {wanted.distribution} is not installed "
            f"(pip install {wanted.distribution}=={wanted.version})"
        ) from None
    if found.version != wanted.version:
        raise DataError(
            f"protein set {card.name!r}: {wanted.distribution} {found.version} is installed, "
            f"the card needs {wanted.version} (pip install {wanted.distribution}=={wanted.version})"
        )
    return Path(str(found.locate_file(wanted.folder)))


def verify_files(card: ProteinSetCard, folder: Path) -> None:
    """Every file the card lists exists and matches its sha256 (one line naming the file)."""
    for rel, source in sorted(card.files.items()):
        path = folder / rel
        if not path.is_file():
            raise DataError(f"{path}: file of protein set {card.name!r} not found")
        found = sha256_of(path)
        if found != source.sha256:
            raise DataError(f"{path}: sha256 mismatch: expected {source.sha256}, found {found}")


# ------------------------------------------------------------------------------------ checks


def check_record(
    card: ProteinSetCard,
    raw: RawRecord,
    seen: set[str],
    published: Mapping[str, str],
) -> ProteinRecord:
    """The record checked against the card; DataError("<file, line>: record <id>: ...")."""
    where = f"{raw.where}: record {raw.id!r}"
    if raw.error is not None:
        raise DataError(raw.error)
    if not raw.id:
        raise DataError(f"{raw.where}: a record without an id")
    if raw.id in seen:
        raise DataError(f"{where}: duplicate id")
    if not raw.sequence:
        raise DataError(f"{where}: empty sequence")
    allowed = set(card.residues)
    for position, letter in enumerate(raw.sequence, start=1):
        if letter not in allowed:
            raise DataError(
                f"{where}: unknown residue {letter!r} at position {position} "
                f"(the card allows {card.residues})"
            )
    if card.coordinates == "required" and (raw.ca is None or np.isnan(raw.ca).any()):
        missing = len(raw.sequence) if raw.ca is None else int(np.isnan(raw.ca).any(axis=1).sum())
        raise DataError(f"{where}: no C-alpha for {missing} residues (the card requires them)")
    labels = {spec.name: _label(spec, raw.fields, where) for spec in card.labels}
    split = _split(card, raw, published, where)
    return ProteinRecord(
        id=raw.id, sequence=raw.sequence, labels=labels, ca=raw.ca, cb=raw.cb, split=split
    )


def _label(spec: LabelSpec, fields: Mapping[str, str], where: str) -> Label:
    text = fields.get(spec.column, "").strip()
    if not text:
        raise DataError(f"{where}: no value for label {spec.name!r} (column {spec.column!r})")
    if spec.classes is None:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataError(f"{where}: label {spec.name!r}: expected a finite number, got {text!r}")
        return value
    if spec.coded:
        if not text.isdigit() or int(text) >= len(spec.classes):
            raise DataError(
                f"{where}: label {spec.name!r}: expected a class index 0..{len(spec.classes) - 1}, "
                f"got {text!r}"
            )
        return spec.classes[int(text)]
    if text not in spec.classes:
        raise DataError(
            f"{where}: label {spec.name!r}: {text!r} is not one of the card's classes "
            f"{list(spec.classes)}"
        )
    return text


def _split(
    card: ProteinSetCard, raw: RawRecord, published: Mapping[str, str], where: str
) -> str | None:
    if published:
        return published.get(raw.id)
    text = raw.fields.get(card.split_column or "split", "").strip().lower()
    if not text:
        return None
    if text not in SPLIT_ALIASES:
        raise DataError(
            f"{where}: split {text!r}: expected one of {sorted(SPLIT_ALIASES)} or nothing"
        )
    return SPLIT_ALIASES[text]


def _published_split(card: ProteinSetCard, folder: Path) -> dict[str, str]:
    """Protein id -> part of the card's published split ({} without one)."""
    if card.splits is None:
        return {}
    path = folder / card.splits.file
    lists = _json(path)
    ids = _json(folder / card.splits.ids) if card.splits.ids is not None else None
    out: dict[str, str] = {}
    for part, key in sorted(card.splits.parts.items()):
        members = lists.get(key) if isinstance(lists, Mapping) else None
        if not isinstance(members, list):
            raise DataError(f"{path}: expected a list under key {key!r} (the {part} part)")
        for member in members:
            name = str(member) if ids is None else ids.get(str(member))
            if name is None:
                raise DataError(f"{path}: {key}: index {member!r} is not in {card.splits.ids}")
            if out.setdefault(name, part) != part:
                raise DataError(f"{path}: {name!r} is in both {out[name]} and {part}")
    return out


def _json(path: Path) -> dict:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: cannot read JSON: {' '.join(str(err).split())}") from None
    if not isinstance(loaded, dict):
        raise DataError(f"{path}: expected a JSON object")
    return loaded


# ----------------------------------------------------------------------------------- sources


def _raw_records(card: ProteinSetCard, source: Path) -> Iterator[RawRecord]:
    if card.format == "fasta":
        return fasta_records(source, header=card.header)
    if card.format in ("csv", "tsv"):
        return table_records(source, card=card)
    if card.format == STRUCTURE_FOLDER_FORMAT:
        return structure_records(source, chain=card.chain)
    raise DataError(f"{card.path}: format {card.format!r} has no reader")  # card.py checks


def header_pattern(template: str) -> re.Pattern[str]:
    """A FASTA header template as a regular expression: `{name}` is a field without spaces,
    `{name?}` an optional one, a space any run of whitespace, anything else itself."""
    out = []
    for piece in re.split(r"(\s+|\{\w+\??\})", template.strip()):
        if not piece:
            continue
        if piece.isspace():
            out.append(r"\s+")
        elif piece.startswith("{") and piece.endswith("?}"):
            if out and out[-1] == r"\s+":
                out.pop()
            out.append(rf"(?:\s+(?P<{piece[1:-2]}>\S+?))?")
        elif piece.startswith("{"):
            out.append(rf"(?P<{piece[1:-1]}>\S+?)")
        else:
            out.append(re.escape(piece))
    pattern = re.compile("".join(out) + r"(?:\s.*)?")
    if "id" not in pattern.groupindex:
        raise DataError(f"header: {template!r}: expected an {{id}} field")
    return pattern


def fasta_records(path: Path, *, header: str = "{id}") -> Iterator[RawRecord]:
    """One RawRecord per `>` entry, read line by line; `where` is the header's line."""
    pattern = header_pattern(header)
    current: tuple[str, dict[str, str]] | None = None
    chunks: list[str] = []
    start = 0
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if line.startswith(">"):
                if current is not None:
                    yield _fasta_record(path, start, current, chunks)
                current, chunks, start = _fasta_header(path, number, line, pattern), [], number
            elif line.strip():
                if current is None:
                    raise DataError(f"{path}, line {number}: sequence before the first '>' header")
                chunks.append("".join(line.split()).upper())
    if current is not None:
        yield _fasta_record(path, start, current, chunks)


def _fasta_header(
    path: Path, number: int, line: str, pattern: re.Pattern[str]
) -> tuple[str, dict[str, str]]:
    found = pattern.fullmatch(line[1:].strip())
    if found is None:
        raise DataError(
            f"{path}, line {number}: header {line[1:].strip()!r} does not match {pattern.pattern}"
        )
    fields = {k: v for k, v in found.groupdict().items() if v is not None}
    return fields.pop("id"), fields


def _fasta_record(
    path: Path, line: int, header: tuple[str, dict[str, str]], chunks: list[str]
) -> RawRecord:
    return RawRecord(
        where=f"{path}, line {line}", id=header[0], sequence="".join(chunks), fields=header[1]
    )


def table_records(path: Path, *, card: ProteinSetCard) -> Iterator[RawRecord]:
    """One RawRecord per row of a CSV (comma) or TSV (tab) table with a header line."""
    delimiter = "," if card.format == "csv" else "\t"
    with open(path, encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream, delimiter=delimiter)
        columns = reader.fieldnames or []
        wanted = [card.id_column, card.sequence_column, *(s.column for s in card.labels)]
        for column in wanted:
            if column not in columns:
                raise DataError(f"{path}: no column {column!r} (columns: {columns})")
        for row in reader:
            if None in row:
                raise DataError(f"{path}, line {reader.line_num}: more fields than columns")
            yield RawRecord(
                where=f"{path}, line {reader.line_num}",
                id=(row[card.id_column] or "").strip(),
                sequence="".join((row[card.sequence_column] or "").split()).upper(),
                fields={k: v or "" for k, v in row.items()},
            )


def structure_records(folder: Path, *, chain: str | None = None) -> Iterator[RawRecord]:
    """One RawRecord per PDB/mmCIF file (sorted by name; id = the file's stem)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder of PDB/mmCIF files")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in STRUCTURE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no structure files ({', '.join(STRUCTURE_SUFFIXES)})")
    for path in files:
        try:
            residues = chain_residues(path, chain=chain)
        except DataError as err:
            yield RawRecord(where=str(path), id=path.stem, sequence="", fields={}, error=str(err))
            continue
        yield RawRecord(
            where=str(path),
            id=path.stem,
            sequence=residues.sequence,
            fields={},
            ca=residues.ca,
            cb=residues.cb,
        )


def open_protein_source(
    source: str, *, card: str | None = None, data_dir: Path | None = None
) -> ProteinSetReading:
    """What `dmsweep db ingest SOURCE [--card CARD]` reads: SOURCE a protein-set card (a
    .yaml path or a card name such as scl2205), or a FASTA/CSV/TSV file or structure folder
    described by `card` (its `source` replaced by SOURCE), else by a card of defaults
    (ids and sequences only, format from the suffix)."""
    path = Path(source).expanduser()
    is_data = path.exists() and not source.endswith((".yaml", ".yml"))
    if not is_data:
        if card is not None:
            raise DataError(f"{source}: not a file or folder (a card is given with --card)")
        return read_protein_set(load_protein_set_card(source, data_dir=data_dir), data_dir=data_dir)
    if card is None:
        kind = STRUCTURE_FOLDER_FORMAT if path.is_dir() else format_of_source(path.name)
        described = ProteinSetCard(name=path.stem, source=str(path.resolve()), format=kind)
        return ProteinSetReading(card=described, folder=path.resolve().parent)
    described = replace(load_protein_set_card(card, data_dir=data_dir), source=str(path.resolve()))
    folder = protein_set_folder(described, data_dir=data_dir)
    return ProteinSetReading(card=described, folder=folder)
