"""The one door to TensorFlow and Keras: every module of the job's side imports them from here.

TensorFlow 2.21 ships Keras 3 as `tf.keras` unless `TF_USE_LEGACY_KERAS=1` is set before its
first import; spektral and our saved models need the Keras 2 API, which `tf_keras` provides.
`dmsweep/__init__` sets the variable (so `import dmsweep` before TensorFlow is enough); this
module sets it again for code that imports it first, and refuses to run if `tf.keras` was
already used with Keras 3 behind it (TensorFlow picks on first use of `tf.keras`: a notebook or a
plugin that used it before dmsweep was imported).

The import also drops TensorFlow's C++ start-up noise (the cuDNN/cuFFT/cuBLAS "Unable to
register factory" lines, and others, see `START_UP_NOISE`), which the C++ side prints to
file descriptor 2 before TF_CPP_MIN_LOG_LEVEL is honoured. Any other line is passed on.
`TF_CPP_MIN_LOG_LEVEL=0` shows everything.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable
from typing import Any

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NO_DRIVER = "Could not find cuda drivers"
START_UP_NOISE = re.compile(
    r"Unable to register (cuDNN|cuFFT|cuBLAS) factory"
    r"|All log messages before absl::InitializeLog"
    rf"|{NO_DRIVER}"
    r"|oneDNN custom operations are on"
    r"|rebuild TensorFlow with the appropriate compiler flags"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|TF-TRT Warning"
)
"""Lines TensorFlow prints on import on a machine without a GPU; nothing a user can act on."""
CUINIT_FAILED = re.compile(r"failed call to cuInit")
"""Printed when devices are first listed; expected (and dropped) only where TensorFlow found no
CUDA driver at all. On a GPU node it is a real problem and gets through."""


def _load_htcondor_first() -> None:
    """Load HTCondor's bindings before TensorFlow when they are installed: imported after
    TensorFlow 2.21 they cannot talk to a schedd ("SECMAN:2001:Failed to allocate a new param
    context for key exchange", seen with htcondor 25.14 and TF 2.21)."""
    from dmsweep.core.events import htcondor_bindings
    from dmsweep.errors import SchedulerError

    with contextlib.suppress(SchedulerError):
        htcondor_bindings()


def quiet_import(load: Callable[[], Any]) -> Any:
    """Run `load` with file descriptor 2 captured, then write back every line that is not
    start-up noise."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return load()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return load()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = _not_noise(captured.read().decode("utf-8", "replace"))
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _not_noise(text: str) -> list[str]:
    no_driver = NO_DRIVER in text
    return [
        line
        for line in text.splitlines(keepends=True)
        if not START_UP_NOISE.search(line) and not (no_driver and CUINIT_FAILED.search(line))
    ]


def _load() -> tuple[Any, Any]:
    """Import TensorFlow and tf-keras, and list the devices (which tries CUDA once) while the
    start-up lines are being captured."""
    import tensorflow
    import tf_keras

    tensorflow.config.list_physical_devices()
    return tensorflow, tf_keras


def check_keras_2(tensorflow: Any, legacy_keras: Any) -> None:
    """Refuse Keras 3 behind `tf.keras`: spektral's layers and our saved models are Keras 2."""
    if tensorflow.keras.layers.Layer is not legacy_keras.layers.Layer:
        raise ImportError(
            "TensorFlow was imported with Keras 3 as tf.keras; dmsweep needs Keras 2 (tf-keras): "
            "import dmsweep before using tf.keras, or set TF_USE_LEGACY_KERAS=1"
        )


_load_htcondor_first()
tf, keras = quiet_import(_load)
check_keras_2(tf, keras)

# CSR sparse-dense products (their gradients are registered by importing this module): on TF
# 2.21's CPU kernels, tf.sparse.sparse_dense_matmul became ~8x slower than on TF 2.15 for our
# (L, L) x (L, batch * F) graph product; the CSR kernel is as fast as the old one was.
from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as _csr  # noqa: E402


def csr_matmul(sparse: Any, dense: Any) -> Any:
    """`sparse @ dense` for a SparseTensor (L, L) and a dense (L, N), through the CSR kernel."""
    return _csr.matmul(_csr.CSRSparseMatrix(sparse), dense)


__all__ = ["csr_matmul", "keras", "tf"]
