"""The one door to Hugging Face `transformers`: TensorFlow classes of the 4.57 line on tf-keras.

`transformers` 4.57.6 is pinned without its `tf` extra (which asks for tensorflow < 2.16): its
TensorFlow classes run on TensorFlow 2.21 with tf-keras when `TF_USE_LEGACY_KERAS=1`, which
`dmsweep._tf` sets and checks, so it is imported first. Its logger is set to errors only: each
TF model construction otherwise warns that TensorFlow classes leave transformers v5, which the
pin already answers. Nothing is ever downloaded: every load passes `local_files_only=True`, and
`HF_HUB_OFFLINE=1` makes a stray hub call fail instead of waiting on the network.
"""

from __future__ import annotations

import os

from dmsweep._tf import keras, tf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import transformers  # after dmsweep._tf: Keras 2 behind tf.keras
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    BertTokenizer,
    EsmConfig,
    EsmTokenizer,
    PreTrainedTokenizerBase,
    TFAutoModel,
    TFAutoModelForMaskedLM,
    TFBertForMaskedLM,
    TFEsmForMaskedLM,
    TFPreTrainedModel,
    create_optimizer,
)

transformers.logging.set_verbosity_error()

__all__ = [
    "AutoConfig",
    "AutoTokenizer",
    "BertConfig",
    "BertTokenizer",
    "EsmConfig",
    "EsmTokenizer",
    "PreTrainedTokenizerBase",
    "TFAutoModel",
    "TFAutoModelForMaskedLM",
    "TFBertForMaskedLM",
    "TFEsmForMaskedLM",
    "TFPreTrainedModel",
    "create_optimizer",
    "keras",
    "tf",
    "transformers",
]
