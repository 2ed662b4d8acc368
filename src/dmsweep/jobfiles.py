"""Every file name of a job output folder, defined once (the job contract in docs/job-contract.md).

Writers (train), readers (aggregate, predict, run_builder status) all import these names,
so a rename can never leave one side behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.json"
METRICS = "metrics.json"
PREDICTIONS = "predictions.csv"
HISTORY = "history.csv"
PROVENANCE = "provenance.json"
ERROR = "error.json"
MODEL_DIR = "model"
MODEL_FILE = "model.keras"
DATASET_CARD = "dataset.yaml"
"""A copy of the dataset card the job trained on: predict reads the wild type from it."""
MANIFEST = "manifest.json"
"""Every other file's size and SHA-256, written last: a folder without it is incomplete."""
SPLIT = "split.npz"
"""`assignment`: int8 per dataset row, 0 unused, 1 train, 2 tune, 3 test."""

TMP_PREFIX = ".tmp-"
"""A job folder under construction is named TMP_PREFIX + job id and renamed when complete."""


@dataclass(frozen=True)
class JobPaths:
    """The paths of one job's output folder, so no caller spells a file name itself."""

    root: Path

    @property
    def job_id(self) -> str:
        return self.root.name

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def predictions(self) -> Path:
        return self.root / PREDICTIONS

    @property
    def history(self) -> Path:
        return self.root / HISTORY

    @property
    def provenance(self) -> Path:
        return self.root / PROVENANCE

    @property
    def error(self) -> Path:
        return self.root / ERROR

    @property
    def model_dir(self) -> Path:
        return self.root / MODEL_DIR

    @property
    def model_file(self) -> Path:
        return self.root / MODEL_DIR / MODEL_FILE

    @property
    def dataset_card(self) -> Path:
        return self.root / DATASET_CARD

    @property
    def split(self) -> Path:
        return self.root / SPLIT

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST
