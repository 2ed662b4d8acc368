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
        "dmsweep.serve.app",
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


def test_the_command_line_imports_no_server() -> None:
    """`dmsweep --help` and `dmsweep serve --help` stay instant: FastAPI loads only to serve."""
    code = (
        "import sys, dmsweep.cli; dmsweep.cli.build_parser(); "
        "heavy = ('fastapi', 'uvicorn', 'pydantic', 'starlette'); "
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"dmsweep.cli imports {out.stdout.strip()}"
