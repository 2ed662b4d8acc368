"""Model type `plm`: a pretrained protein language model with a regression head on variants,
or a classification head on a protein set.

The model takes the same int8 residue codes (batch, L) as every other dmsweep model, so the
trainer, `predict` and `serve` need nothing new. `PLMBackbone` tokenises inside the graph:

- residues are looked up in the model's vocabulary (its tokenizer's ids; a residue without a
  token is a one-line error when the model is built); a protein set's unknown residues
  (X, B, Z, U, O: `UNKNOWN_CODE`) become the vocabulary's `X` (else its unknown token);
- a variant with a stop codon is its sequence *up to the stop* (what the cell makes: the
  rest is padding, masked out); a protein set's padding (`PAD_CODE`) ends it alike;
- the sequence is cut to its first `max_length - 2` residues (`max_length` capped by the
  model's position embeddings): the truncation policy, N-terminus kept, for variants and
  long proteins alike; then `[CLS] residues [SEP]` (ESM: `<cls> residues <eos>`) padded,
  with the attention mask.

Pooling: the [CLS] state, or the mean of the residue tokens' states. Then dropout and the
float32 output: one score, or a protein set's classes (sigmoid for two, softmax for more).
`frozen_layers` N > 0 fixes the embeddings and the lowest N encoder layers.
The encoder's config travels in the layer's config and its weights in the `.keras` file, so a
saved model loads without the pretrained directory.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dmsweep.config import PLMParams
from dmsweep.data.protein_batches import NUM_CODES, PAD_CODE, UNKNOWN_CODE
from dmsweep.data.tasks import Task
from dmsweep.data.variants import ALPHABET
from dmsweep.errors import ConfigError, DataError
from dmsweep.models.hf import AutoConfig, AutoTokenizer, TFAutoModel, create_optimizer, keras, tf
from dmsweep.models.layers import PACKAGE

STOP_CODE = ALPHABET.index("*")


def build_plm(
    params: PLMParams, pretrained: Path, length: int | None, task: Task | None = None
) -> keras.Model:
    """codes (batch, length) int8 -> score (batch, 1): the pretrained encoder and the head.
    A protein set (`length` None: proteins of any length) has its `task`'s outputs."""
    tokenizer = AutoTokenizer.from_pretrained(str(pretrained), local_files_only=True)
    encoder = TFAutoModel.from_pretrained(str(pretrained), local_files_only=True)
    backbone = PLMBackbone(
        encoder_config=encoder.config.to_dict(),
        token_ids=residue_token_ids(tokenizer, pretrained),
        special_ids=special_token_ids(tokenizer),
        max_residues=max_residues(params.max_length, encoder.config, length),
        pooling=params.pooling,
        frozen_layers=params.frozen_layers,
        encoder=encoder,
        name="plm_backbone",
    )
    codes = keras.Input(shape=(length,), dtype="int8", name="codes")
    x = backbone(codes)
    x = keras.layers.Dropout(params.dropout, name="head_dropout")(x)
    units, activation = 1, None
    if task is not None:
        units, activation = task.outputs, task.output_activation
    out = keras.layers.Dense(units, activation=activation, dtype="float32", name="output")(x)
    return keras.Model(codes, out, name="plm")


def residue_token_ids(tokenizer: Any, where: Path) -> list[int]:
    """Token id of each residue code (ALPHABET order, then UNKNOWN_CODE and PAD_CODE): the
    stop codon and padding map to padding, an unknown residue to `X` (else the unknown
    token)."""
    ids = []
    for residue in ALPHABET[:STOP_CODE]:
        token = tokenizer.convert_tokens_to_ids(residue)
        if token is None or token == tokenizer.unk_token_id:
            raise DataError(
                f"pretrained: {where}: its vocabulary has no token for residue {residue!r} "
                "(expected one token per amino acid, as ProtBERT's or ESM's)"
            )
        ids.append(int(token))
    unknown = tokenizer.convert_tokens_to_ids("X")
    if unknown is None:
        unknown = tokenizer.unk_token_id
    pad = int(tokenizer.pad_token_id)
    table = [*ids, pad, int(unknown), pad]
    assert len(table) == NUM_CODES and table[UNKNOWN_CODE] == int(unknown)
    return table


def special_token_ids(tokenizer: Any) -> dict[str, int]:
    """[CLS], [SEP] (ESM: <cls>, <eos>) and padding ids."""
    sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    return {"cls": int(tokenizer.cls_token_id), "sep": int(sep), "pad": int(tokenizer.pad_token_id)}


def max_residues(max_length: int, encoder_config: Any, length: int | None) -> int:
    """Residues kept per sequence: max_length tokens (capped by the model's positions) less
    [CLS] and [SEP], at most the sequence length (a protein set's: any)."""
    positions = int(getattr(encoder_config, "max_position_embeddings", max_length))
    if getattr(encoder_config, "model_type", "") == "esm":  # ESM counts its padding offset
        positions -= 2
    kept = min(max_length, positions) - 2
    return max(1, kept if length is None else min(length, kept))


@keras.saving.register_keras_serializable(package=PACKAGE)
class PLMBackbone(keras.layers.Layer):
    """int8 residue codes -> pooled encoder state (batch, hidden), tokenised in the graph."""

    def __init__(
        self,
        encoder_config: dict[str, Any],
        token_ids: list[int],
        special_ids: dict[str, int],
        max_residues: int,
        pooling: str,
        frozen_layers: int,
        encoder: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.encoder_config = dict(encoder_config)
        self.token_ids = [int(i) for i in token_ids]
        self.special_ids = {k: int(v) for k, v in special_ids.items()}
        self.max_residues = int(max_residues)
        self.pooling = pooling
        self.frozen_layers = int(frozen_layers)
        if encoder is None:  # loading a saved model: the weights come from the .keras file
            config = AutoConfig.for_model(**self.encoder_config)
            encoder = TFAutoModel.from_config(config)
        self.main = getattr(encoder, encoder.base_model_prefix)
        self._table = tf.constant(self.token_ids, dtype=tf.int32)
        _freeze(self.main, self.frozen_layers)

    def tokenise(self, codes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(token ids, attention mask, residues kept (batch, 1)) of int8 codes, as the
        model's tokenizer would give them for the sequence cut at a stop or padding and to
        its first `max_residues` residues."""
        codes = tf.cast(codes[:, : self.max_residues], tf.int32)
        ends = (codes == STOP_CODE) | (codes == PAD_CODE)
        kept = tf.math.cumprod(tf.cast(~ends, tf.int32), axis=1)  # up to a stop or padding
        count = tf.reduce_sum(kept, axis=1, keepdims=True)
        pad, cls, sep = (self.special_ids[k] for k in ("pad", "cls", "sep"))
        tokens = tf.gather(self._table, codes) * kept + pad * (1 - kept)
        batch = tf.shape(codes)[0]
        ids = tf.concat([tf.fill([batch, 1], cls), tokens, tf.fill([batch, 1], pad)], axis=1)
        positions = tf.range(tf.shape(ids)[1])[tf.newaxis, :]
        ids = tf.where(positions == count + 1, sep, ids)
        attention = tf.cast(positions <= count + 1, tf.int32)
        return ids, attention, count

    def call(self, codes: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        ids, attention, count = self.tokenise(codes)
        positions = tf.range(tf.shape(ids)[1])[tf.newaxis, :]
        hidden = self.main(input_ids=ids, attention_mask=attention, training=training)[0]
        if self.pooling == "cls":
            return hidden[:, 0]
        residues = tf.cast((positions >= 1) & (positions <= count), hidden.dtype)[..., None]
        return tf.reduce_sum(hidden * residues, axis=1) / tf.maximum(
            tf.reduce_sum(residues, axis=1), 1.0
        )

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0], int(self.encoder_config["hidden_size"]))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "encoder_config": self.encoder_config,
            "token_ids": self.token_ids,
            "special_ids": self.special_ids,
            "max_residues": self.max_residues,
            "pooling": self.pooling,
            "frozen_layers": self.frozen_layers,
        }


def _freeze(main: Any, frozen_layers: int) -> None:
    """The embeddings and the lowest `frozen_layers` encoder layers fixed; the pooler (unused
    by either pooling) and ESM's contact head (unused) always fixed, so no weight without a
    gradient is trained."""
    layers = main.encoder.layer
    if frozen_layers > len(layers):
        raise ConfigError(
            f"frozen_layers: expected an integer in [0, {len(layers)}] (the encoder's layers), "
            f"got {frozen_layers}"
        )
    for unused in ("pooler", "contact_head"):
        if getattr(main, unused, None) is not None:
            getattr(main, unused).trainable = False
    if frozen_layers > 0:
        main.embeddings.trainable = False
        for layer in layers[:frozen_layers]:
            layer.trainable = False


def plm_optimizer(params: PLMParams, learning_rate: float, total_steps: int) -> Any:
    """AdamW (transformers' AdamWeightDecay: no decay of biases and layer norms), linear
    warm-up to `learning_rate` over `warmup_fraction` of the steps, then linear decay to 0,
    gradients clipped to a global norm of `clip_norm`."""
    optimizer, _ = create_optimizer(
        init_lr=learning_rate,
        num_train_steps=max(1, total_steps),
        num_warmup_steps=math.floor(params.warmup_fraction * total_steps),
        weight_decay_rate=params.weight_decay,
        adam_global_clipnorm=params.clip_norm,
    )
    return optimizer


__all__ = ["PLMBackbone", "build_plm", "plm_optimizer"]
