"""What every training job loads: datasets, variant codes, encodings, splits and residue graphs.

A dataset is described by a small YAML *dataset card* (`DatasetCard`); its variants are held
as int8 residue codes (`Dataset.codes`), never as a float tensor; every encoding is a
(21, F) table that a model applies as a lookup (`encoding_table`). See docs/data.md.
"""

from __future__ import annotations

from dmsweep.data.datasets import (
    Dataset,
    DatasetCard,
    FileSource,
    default_cache_dir,
    load_card,
    load_dataset,
    resolve_data_dir,
)
from dmsweep.data.encodings import encoding_table
from dmsweep.data.graphs import residue_graph
from dmsweep.data.splits import Split, make_split
from dmsweep.data.variants import ALPHABET, encode_variants, parse_variant_list

__all__ = [
    "ALPHABET",
    "Dataset",
    "DatasetCard",
    "FileSource",
    "Split",
    "default_cache_dir",
    "encode_variants",
    "encoding_table",
    "load_card",
    "load_dataset",
    "make_split",
    "parse_variant_list",
    "residue_graph",
    "resolve_data_dir",
]
