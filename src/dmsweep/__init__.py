"""dmsweep: train thousands of variant-effect neural networks on HTCondor and compare them."""

from __future__ import annotations

import functools
import os
from typing import Any

# Keras 2 (tf-keras) behind tf.keras: must be set before TensorFlow's first import, and every
# entry point (CLIs, job wrapper, tests) imports this package first. See dmsweep/_tf.py.
os.environ["TF_USE_LEGACY_KERAS"] = "1"

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
