"""The data files a sweep reads, gathered into the run folder's `data/` with their checksums.

`data/` has the layout of a data directory (`<dataset>/<file>`, `aaindex/pca-19.npy`), so a job
passes it as `--data-dir data`. Only what the trainings need is taken: each dataset's table and
structure, the published split folders the configs name, the AAindex table when an
encoding uses it, and each `plm` model's pretrained directory given relative to the data
directory (an absolute one is checked and left in place: shared storage). Files come from
the data directory (else the download cache, fetched now), are verified against their
dataset card where it lists them, and are hard linked into the run folder when possible,
else copied. A dataset given by card path brings its card along.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from dmsweep.config import DRAWN_SPLITS, DatabaseDataset, PLMParams, TrainConfig
from dmsweep.core.files import sha256_of
from dmsweep.data._files import fetch
from dmsweep.data.card import CARD_FILE, ProteinSetCard
from dmsweep.data.pretrained import check_pretrained
from dmsweep.data.source import AAINDEX_FILE, AAINDEX_FOLDER, AAINDEX_SOURCE, TEST_FILES, DataSource
from dmsweep.errors import ConfigError


def needed_files(
    configs: Iterable[TrainConfig], *, source: DataSource
) -> dict[str, tuple[Path, str]]:
    """`data/`-relative path -> (source file, 'sha256:<hex>') of every file the configs read.

    Where each file comes from is `source` (`DataSource.files_root`, `aaindex_root`); a card
    read from a file is copied too, as `<name>/dataset.yaml`, so that the run folder's jobs
    read their own copy of it.
    """
    splits: dict[str, set[str]] = {}
    aa_index = False
    for config in configs:
        data = config.data
        if isinstance(data.dataset, DatabaseDataset):
            continue  # read from its server or file by the job, never copied
        named = splits.setdefault(data.dataset, set())
        if data.split not in DRAWN_SPLITS:
            named.add(data.split.strip("/"))
        aa_index = aa_index or "aa_index" in data.encoding

    files: dict[str, tuple[Path, str]] = {}
    near = None
    for dataset, names in sorted(splits.items()):
        any_card = source.any_card(dataset)
        if isinstance(any_card, ProteinSetCard):
            files.update(protein_set_files(any_card, source))
            continue
        card = near = any_card
        root, download = source.files_root(card)
        rels = {card.table, *([card.structure] if card.structure else [])}
        for split in sorted(names):
            folder = f"{(card.splits or 'splits').rstrip('/')}/{split}"
            test = next(
                (
                    f
                    for f in TEST_FILES
                    if (root / folder / f).is_file() or f"{folder}/{f}" in card.files
                ),
                TEST_FILES[0],
            )
            rels.update(f"{folder}/{name}" for name in ("train.txt", "tune.txt", test))
        for rel in sorted(rels):
            files[f"{card.name}/{rel}"] = fetch(root, rel, card.files.get(rel), download=download)
        if card.folder is not None and card.path is not None:  # the job reads this card
            files[f"{card.name}/{CARD_FILE}"] = fetch(
                card.path.parent, card.path.name, None, download=False
            )
    if aa_index:
        root, download = source.aaindex_root(near)
        files[f"{AAINDEX_FOLDER}/{AAINDEX_FILE}"] = fetch(
            root, AAINDEX_FILE, AAINDEX_SOURCE, download=download
        )
    files.update(pretrained_files(configs, source=source))
    return files


def pretrained_files(
    configs: Iterable[TrainConfig], *, source: DataSource
) -> dict[str, tuple[Path, str]]:
    """The files of every relative `pretrained` directory (checked: Hugging Face format with
    TensorFlow weights), under the same relative path in `data/`, where the job's --data-dir
    finds them; each distinct directory once. Absolute ones are checked, not copied."""
    files: dict[str, tuple[Path, str]] = {}
    values = {c.params.pretrained for c in configs if isinstance(c.params, PLMParams)}
    for value in sorted(values):
        path = Path(value)
        if path.is_absolute():
            check_pretrained(path)
            continue
        if ".." in path.parts:
            raise ConfigError(f"pretrained: {value}: expected a path below the data directory")
        base = source.data_dir if source.data_dir is not None else Path.cwd()
        folder = check_pretrained(base / path).path
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = (path / file.relative_to(folder)).as_posix()
            files[rel] = (file, f"sha256:{sha256_of(file)}")
    return files


def protein_set_files(card: ProteinSetCard, source: DataSource) -> dict[str, tuple[Path, str]]:
    """The files of a protein set read from a card file: the card, its source (a file, or
    every structure of a folder), its split lists and listed files. A packaged card (e.g.
    scl2205, whose data ships in the p-scldata package of the job's environment) needs none."""
    if card.folder is None or card.path is None:
        return {}
    from dmsweep.data.graphs import STRUCTURE_SUFFIXES

    root = card.folder
    rels = set(card.files)
    source_path = root / card.source
    if source_path.is_dir():
        rels.update(
            p.relative_to(root).as_posix()
            for p in sorted(source_path.iterdir())
            if p.suffix.lower() in STRUCTURE_SUFFIXES
        )
    else:
        rels.add(card.source)
    if card.splits is not None:
        rels.update(r for r in (card.splits.file, card.splits.ids) if r is not None)
    files = {
        f"{card.name}/{CARD_FILE}": fetch(card.path.parent, card.path.name, None, download=False)
    }
    for rel in sorted(rels):
        files[f"{card.name}/{rel}"] = fetch(root, rel, card.files.get(rel), download=False)
    return files


def gather(files: dict[str, tuple[Path, str]], target: Path) -> dict[str, str]:
    """Hard link (else copy) each file into `target`; returns rel -> 'sha256:<hex>'."""
    for rel, (source, _) in sorted(files.items()):
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(source, dest)
    return {rel: checksum for rel, (_, checksum) in sorted(files.items())}


def link_or_copy(source: Path | str, dest: Path | str) -> None:
    """A hard link (no space, no time), else a copy (another filesystem)."""
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)
