"""Shared fixtures: where the real data lives, and quiet TensorFlow logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dmsweep  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before any test imports TensorFlow)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real avGFP data: $DMSWEEP_DATA_DIR, else ../shared/data beside the checkout."""
    path = Path(os.environ.get("DMSWEEP_DATA_DIR", DEFAULT_DATA_DIR))
    if not (path / "avgfp" / "avgfp.tsv").is_file():
        pytest.fail(f"real data not found at {path}: set DMSWEEP_DATA_DIR to a copy of shared/data")
    return path
