"""`dmsweep pretrain`: masked-language-model pretraining of a small BERT on a FASTA corpus.

No protein language model weights ship in any package and nothing can be downloaded, so this
gives the toolkit real local weights in the same Hugging Face format a downloaded ProtBERT
has (`save_pretrained`: config.json, tf_model.h5, the tokenizer files), and the same code path
fine-tunes either. The model is labelled in its config.json: a `dmsweep` block with the corpus
checksum, the seed, the preset, the losses and the code version, and an `origin` that says it
was pretrained locally (never ProtBERT).

Corpus: each FASTA sequence (ProtBERT's residues; a terminal `*` dropped) is cut into
consecutive windows of `max_length - 2` residues, each tokenised as `[CLS] residues [SEP]`
and padded. Masking as BERT: 15% of residue tokens chosen per epoch (from the seed), of those
80% become [MASK], 10% a random residue, 10% stay; the loss is the cross-entropy on the
chosen ones. The loss reported before and after training is on one fixed masking (from the
seed) of the first windows, so the two numbers are comparable.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import dmsweep
from dmsweep.core.gitinfo import git_commit
from dmsweep.data.pretrained import (
    LOCAL_ORIGIN,
    ORIGIN_KEY,
    PRESET_NAMES,
    PROTBERT_RESIDUES,
    SPECIAL_TOKENS,
    VOCABULARY,
    check_corpus_sequence,
)
from dmsweep.data.proteins import fasta_records
from dmsweep.errors import DataError, OutputError
from dmsweep.models.hf import BertConfig, BertTokenizer, TFBertForMaskedLM, keras, tf

PAD, UNK, CLS, SEP, MASK = range(len(SPECIAL_TOKENS))
FIRST_RESIDUE = len(SPECIAL_TOKENS)
MASK_FRACTION = 0.15
EVAL_WINDOWS = 256
"""Windows of the fixed evaluation masking (the loss before and after)."""


@dataclass(frozen=True)
class Preset:
    """A BERT size and its training defaults."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    max_length: int
    batch_size: int
    learning_rate: float


PRESETS: dict[str, Preset] = {
    "tiny": Preset(2, 32, 2, 64, 64, 32, 2e-3),
    "small": Preset(4, 128, 4, 512, 128, 32, 5e-4),
}
"""`tiny` trains in seconds (tests); `small` (0.8M parameters) is a job for the pool: one
pass over SCL2205's 2.4M residues takes 8-13 minutes on 2 cores."""
assert tuple(PRESETS) == PRESET_NAMES, "the names dmsweep.cli offers"


@dataclass(frozen=True)
class PretrainOptions:
    fasta: Path
    output: Path
    preset: str = "tiny"
    seed: int = 7
    epochs: int = 1
    max_length: int | None = None
    """Tokens per window including [CLS] and [SEP]; None: the preset's."""


@dataclass
class PretrainResult:
    output: Path
    sequences: int
    windows: int
    tokens: int
    loss_before: float
    loss_after: float
    epoch_losses: list[float] = field(default_factory=list)
    tokens_per_second: float = 0.0


def pretrain(options: PretrainOptions) -> PretrainResult:
    """Pretrain, then save model and tokenizer atomically into `options.output`."""
    preset = PRESETS[options.preset]
    max_length = options.max_length or preset.max_length
    _check_output(options.output)
    sequences, corpus_checksum = read_corpus(options.fasta)
    ids = windows(sequences, max_length)
    tf.keras.utils.set_random_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    model = TFBertForMaskedLM(bert_config(preset, max_length))
    optimizer = keras.optimizers.legacy.Adam(preset.learning_rate)
    step = _train_step(model, optimizer)
    evaluation = mask(ids[:EVAL_WINDOWS], np.random.default_rng(options.seed + 1))
    loss_before = _loss(model, *evaluation)
    epoch_losses, started = [], time.perf_counter()
    for _ in range(options.epochs):
        order = rng.permutation(len(ids))
        masked, labels = mask(ids[order], rng)
        losses = [
            float(step(masked[i : i + preset.batch_size], labels[i : i + preset.batch_size]))
            for i in range(0, len(ids), preset.batch_size)
        ]
        epoch_losses.append(float(np.mean(losses)))
    seconds = time.perf_counter() - started
    result = PretrainResult(
        output=options.output,
        sequences=len(sequences),
        windows=len(ids),
        tokens=int((ids != PAD).sum()),
        loss_before=loss_before,
        loss_after=_loss(model, *evaluation),
        epoch_losses=epoch_losses,
    )
    result.tokens_per_second = result.tokens * options.epochs / max(seconds, 1e-9)
    model.config.update(
        {ORIGIN_KEY: _origin_block(options, preset, max_length, corpus_checksum, result)}
    )
    _save(model, options.output)
    return result


def bert_config(preset: Preset, max_length: int) -> Any:
    return BertConfig(
        vocab_size=len(VOCABULARY),
        hidden_size=preset.hidden,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        intermediate_size=preset.intermediate,
        max_position_embeddings=max_length,
        pad_token_id=PAD,
    )


def read_corpus(fasta: Path) -> tuple[list[str], str]:
    """The checked sequences of a FASTA file and the file's 'sha256:<hex>'."""
    from dmsweep.core.files import sha256_of

    if not Path(fasta).is_file():
        raise DataError(f"--fasta {fasta}: file not found")
    sequences = [check_corpus_sequence(r.sequence, r.where) for r in fasta_records(Path(fasta))]
    if not sequences:
        raise DataError(f"--fasta {fasta}: no sequences (expected '>' headers)")
    return sequences, f"sha256:{sha256_of(Path(fasta))}"


def windows(sequences: list[str], max_length: int) -> np.ndarray:
    """int32 (n, max_length): `[CLS] residues [SEP]` of consecutive windows, padded."""
    width = max_length - 2
    lookup = {r: i + FIRST_RESIDUE for i, r in enumerate(PROTBERT_RESIDUES)}
    rows = []
    for sequence in sequences:
        for start in range(0, len(sequence), width):
            piece = [lookup[r] for r in sequence[start : start + width]]
            row = [CLS, *piece, SEP]
            rows.append(row + [PAD] * (max_length - len(row)))
    return np.asarray(rows, dtype=np.int32)


def mask(ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(masked ids, labels): BERT's 80/10/10 masking of 15% of residue tokens; labels are -100
    (ignored) except where chosen. At least one token per window is chosen."""
    residue = ids >= FIRST_RESIDUE
    chosen = residue & (rng.random(ids.shape) < MASK_FRACTION)
    first = np.argmax(residue, axis=1)  # windows where nothing was chosen: their first residue
    none = ~chosen.any(axis=1)
    chosen[np.nonzero(none)[0], first[none]] = True
    labels = np.where(chosen, ids, -100).astype(np.int32)
    roll = rng.random(ids.shape)
    masked = ids.copy()
    masked[chosen & (roll < 0.8)] = MASK
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[swap] = rng.integers(FIRST_RESIDUE, len(VOCABULARY), size=int(swap.sum()))
    return masked, labels


def _train_step(model: Any, optimizer: Any) -> Any:
    @tf.function(reduce_retracing=True)
    def step(masked: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = _masked_loss(model, masked, labels, training=True)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step


def _masked_loss(model: Any, masked: Any, labels: Any, *, training: bool) -> Any:
    """Mean cross-entropy over the chosen tokens (labels >= 0)."""
    logits = model(input_ids=masked, attention_mask=tf.cast(masked != PAD, tf.int32),
                   training=training).logits  # fmt: skip
    chosen = labels >= 0
    per_token = tf.keras.losses.sparse_categorical_crossentropy(
        tf.boolean_mask(tf.maximum(labels, 0), chosen),
        tf.boolean_mask(logits, chosen),
        from_logits=True,
    )
    return tf.reduce_mean(per_token)


def _loss(model: Any, masked: np.ndarray, labels: np.ndarray) -> float:
    return float(_masked_loss(model, tf.constant(masked), tf.constant(labels), training=False))


def _origin_block(
    options: PretrainOptions,
    preset: Preset,
    max_length: int,
    checksum: str,
    result: PretrainResult,
) -> dict[str, Any]:
    commit, dirty = git_commit()
    return {
        "origin": LOCAL_ORIGIN,
        "corpus": Path(options.fasta).name,
        "corpus_checksum": checksum,
        "corpus_sequences": result.sequences,
        "windows": result.windows,
        "seed": options.seed,
        "epochs": options.epochs,
        "preset": options.preset,
        "max_length": max_length,
        "settings": asdict(preset),
        "mlm_loss_before": result.loss_before,
        "mlm_loss_after": result.loss_after,
        "epoch_losses": result.epoch_losses,
        "dmsweep_version": dmsweep.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def _check_output(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise OutputError(f"-o {output}: exists and is not an empty folder (refusing to overwrite)")


def _save(model: Any, output: Path) -> None:
    """Model and tokenizer into a temporary sibling folder, then renamed into place."""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        model.save_pretrained(staging)
        vocab = staging / "vocab.txt"
        vocab.write_text("".join(f"{token}\n" for token in VOCABULARY), encoding="utf-8")
        BertTokenizer(str(vocab), do_lower_case=False).save_pretrained(staging)
        if output.exists():
            output.rmdir()
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def summary(result: PretrainResult) -> str:
    """What `dmsweep pretrain` prints (one line, then the folder)."""
    return json.dumps(
        {
            "sequences": result.sequences,
            "windows": result.windows,
            "tokens": result.tokens,
            "mlm_loss_before": round(result.loss_before, 4),
            "mlm_loss_after": round(result.loss_after, 4),
            "tokens_per_second": round(result.tokens_per_second),
        }
    )


__all__ = ["PRESETS", "PretrainOptions", "PretrainResult", "pretrain", "summary"]
