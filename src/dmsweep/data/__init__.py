"""What every training job loads: datasets, variant codes, encodings, splits and residue graphs;
and protein sets (`ProteinRecord`s read from the source a `kind: protein_set` card describes).

A dataset is described by a small YAML *dataset card* (`DatasetCard`); its variants are held
as int8 residue codes (`Dataset.codes`), never as a float tensor; every encoding is a
(21, F) table that a model applies as a lookup (`encoding_table`). Where data is read from is
one `DataSource`. See docs/data.md.

The names below are imported on first use (PEP 562), so that `dmsweep.data.card` and
`dmsweep.data.source` (what the run builder reads) never pay for NumPy or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ALPHABET": "variants",
    "ProteinRecord": "proteins",
    "ProteinSetCard": "card",
    "load_protein_set_card": "card",
    "read_protein_set": "proteins",
    "DataSource": "source",
    "Dataset": "datasets",
    "DatasetCard": "card",
    "FileSource": "_files",
    "Split": "splits",
    "default_cache_dir": "_files",
    "encode_variants": "variants",
    "encoding_table": "encodings",
    "load_card": "card",
    "load_dataset": "datasets",
    "looks_like_sequence": "variants",
    "make_split": "splits",
    "parse_variant_list": "variants",
    "read_card": "card",
    "residue_graph": "graphs",
    "sequence_variant": "variants",
    "resolve_data_dir": "_files",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return __all__
