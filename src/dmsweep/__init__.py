"""dmsweep: train thousands of variant-effect neural networks on HTCondor and compare them."""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["__version__"]


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dmsweep")
    except PackageNotFoundError:  # a source tree that was not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """`dmsweep.__version__` on first use: looking it up costs a tenth of a second at start-up
    (importlib.metadata scans sys.path), which `run_builder --dry-run` does not need."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
