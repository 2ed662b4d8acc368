"""`check_data`: what a batch's preflight job loads before training, for each dataset kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmsweep.config import TrainConfig
from dmsweep.errors import DataError
from dmsweep.train.trainer import check_data


def test_variant_tables_and_protein_sets_load(data_dir: Path) -> None:
    configs = [
        TrainConfig.from_flat({"model": "linear", "split": "main"}),
        TrainConfig.from_flat({"model": "cnn", "dataset": "scl2205", "split": "main"}),
    ]
    check_data(configs, data_dir)  # raises on a dataset that would not load


def test_a_dataset_that_cannot_load_fails_the_preflight(tmp_path: Path, data_dir: Path) -> None:
    card = tmp_path / "gone" / "dataset.yaml"
    with pytest.raises(DataError, match="gone"):
        check_data([TrainConfig.from_flat({"model": "linear", "dataset": str(card)})], data_dir)
