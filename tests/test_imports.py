"""The builder and the aggregator must never pay TensorFlow's import (seconds, GBs) or need it."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "dmsweep.run_builder.cli",
        "dmsweep.run_builder.spec",
        "dmsweep.run_builder.expand",
        "dmsweep.aggregate.cli",
        "dmsweep.cli",
        "dmsweep.db.ingest",
        "dmsweep.db.split",
        "dmsweep.db.stream",
        "dmsweep.db.mongo",
    ],
)
def test_module_imports_without_tensorflow(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "heavy = ('tensorflow', 'keras', 'tf_keras', 'spektral'); "
        "heavy = sorted(m for m in heavy if m in sys.modules); "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"
