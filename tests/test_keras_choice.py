"""The Keras that runs is Keras 2 (tf-keras), everywhere; Keras 3 (installed beside TensorFlow as
its dependency) is refused; TensorFlow's start-up noise never reaches the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest
from condor_pool import condor_pool  # noqa: F401 (a fixture)

from dmsweep._tf import START_UP_NOISE, _not_noise, keras, quiet_import, tf
from dmsweep.config import LinearParams
from dmsweep.data import encoding_table
from dmsweep.models import ModelInputs, build_model
from dmsweep.run_builder.environments import JOB_IMPORTS, JOB_PACKAGES


def _python(code: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter (this venv), with `env` changes (None removes a variable)."""
    environ = dict(os.environ)
    for name, value in env.items():
        environ.pop(name, None) if value is None else environ.__setitem__(name, value)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=300
    )


def test_keras_3_is_installed_but_tf_keras_is_what_runs() -> None:
    assert version("keras").startswith("3."), "TensorFlow 2.21 brings Keras 3 along"
    assert version("tf-keras") == version("tensorflow")
    assert tf.keras.layers.Layer is keras.layers.Layer
    model = build_model(LinearParams(), ModelInputs(encoding_table("one_hot"), 238, None))
    assert isinstance(model, keras.Model)
    assert type(model).__module__.startswith("tf_keras")


def test_job_environment_names_the_keras_that_runs() -> None:
    assert "tf-keras" in JOB_PACKAGES and "keras" not in JOB_PACKAGES
    assert JOB_IMPORTS[0] == "dmsweep._tf", "the preflight checks the Keras choice first"
    assert "tf_keras" in JOB_IMPORTS and "keras" not in JOB_IMPORTS


def test_tensorflow_imported_first_with_keras_3_is_refused() -> None:
    """A notebook or plugin that used tf.keras before dmsweep was imported has Keras 3 behind
    it for good (TensorFlow picks on first use); the preflight imports `dmsweep._tf` first, so
    a job environment that would run Keras 3 fails there."""
    code = "import tensorflow as tf; tf.keras.layers.Layer; import dmsweep._tf"
    done = _python(code, TF_USE_LEGACY_KERAS=None)
    assert done.returncode == 1
    assert "ImportError: TensorFlow was imported with Keras 3 as tf.keras" in done.stderr
    assert "import dmsweep before using tf.keras" in done.stderr


def test_importing_dmsweep_before_using_tf_keras_is_enough() -> None:
    code = (
        "import tensorflow as tf, dmsweep, tf_keras; "
        "print(tf.keras.layers.Layer is tf_keras.layers.Layer)"
    )
    done = _python(code, TF_USE_LEGACY_KERAS="0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_the_preflight_imports_load() -> None:
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    done = subprocess.run(
        [sys.executable, "-c", code, *JOB_IMPORTS], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


def test_the_import_prints_nothing() -> None:
    """No cuDNN/cuFFT/cuBLAS "Unable to register factory" lines on a CPU machine."""
    done = _python("import dmsweep._tf", TF_CPP_MIN_LOG_LEVEL=None)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == ""


NOISE = (
    "E0000 00:00:1733 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register\n"
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
)


@pytest.mark.parametrize(
    ("level", "kept"), [("2", "a real line\n"), ("0", NOISE + "a real line\n")]
)
def test_only_start_up_noise_is_dropped(level: str, kept: str) -> None:
    code = (
        "import os, sys; from dmsweep._tf import quiet_import; "
        f"quiet_import(lambda: os.write(2, {(NOISE + 'a real line' + chr(10)).encode()!r}))"
    )
    done = _python(code, TF_CPP_MIN_LOG_LEVEL=level)
    assert done.returncode == 0
    if level == "0":  # everything shows, TensorFlow's own import lines included
        assert done.stderr.endswith(kept)
    else:
        assert done.stderr == kept


CUINIT = "E0000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
NO_DRIVER = "I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\n"


def test_a_failed_cuinit_is_noise_only_where_there_is_no_driver() -> None:
    """On a GPU node whose driver TensorFlow found, a failing cuInit is a real problem."""
    assert _not_noise(NO_DRIVER + CUINIT + "kept\n") == ["kept\n"]
    assert _not_noise(CUINIT + "kept\n") == [CUINIT, "kept\n"]


def test_quiet_import_returns_what_it_loads_and_raises_what_fails() -> None:
    assert quiet_import(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        quiet_import(lambda: 1 / 0)
    assert all(START_UP_NOISE.search(line) for line in NOISE.splitlines())


@pytest.mark.condor
def test_htcondor_reaches_the_schedd_after_tensorflow(condor_pool) -> None:  # noqa: F811
    """htcondor2 imported after TF 2.21 fails ("SECMAN:2001"): dmsweep._tf loads it first,
    with the personal pool's configuration when CONDOR_CONFIG is unset."""
    code = (
        "import dmsweep._tf; from dmsweep.core.events import htcondor_bindings; "
        "print(len(htcondor_bindings().Schedd().query(projection=['ClusterId'])) >= 0)"
    )
    done = _python(code, CONDOR_CONFIG=None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_transformers_tf_classes_run_on_tf_keras_without_the_tf_extra() -> None:
    """transformers 4.57.6 pinned without its `tf` extra (which would ask for tensorflow <
    2.16): its TF BERT is a tf-keras model on TensorFlow 2.21, and jobs carry and import it."""
    from dmsweep.models.hf import BertConfig, TFBertForMaskedLM

    assert version("transformers") == "4.57.6"
    assert version("tensorflow").startswith("2.21.")
    config = BertConfig(
        vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32,
    )  # fmt: skip
    model = TFBertForMaskedLM(config)
    logits = model(input_ids=tf.ones((2, 8), tf.int32)).logits
    assert tuple(logits.shape) == (2, 8, 30)
    assert isinstance(model, keras.Model)
    assert "transformers" in JOB_PACKAGES and "transformers" in JOB_IMPORTS
