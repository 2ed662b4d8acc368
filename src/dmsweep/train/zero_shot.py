"""Zero-shot variant scores from a masked language model (`dmsweep predict --zero-shot DIR`).

The masked-marginal log-likelihood ratio (the standard zero-shot baseline of ProteinGym): for
each mutated position i, mask i in the *wild type* and take
log p(mutant residue at i) - log p(wild-type residue at i); a variant's score is the sum over
its mutated positions. No training, no scores of the dataset are used.

Efficient: the ratios depend only on the wild type, so there is one masked forward pass per
wild-type position (L passes, batched), giving an (L, 20) table; every variant is then a sum
of lookups in it. A wild type longer than the model's positions is read through a window of
`max_residues` residues around the masked position (the window starts at
`i - max_residues // 2`, clamped to the sequence), so every position sees as much context as
the model can take.

Not scored: a variant with a stop codon gets no score (`nan` in the CSV): the masked marginal
compares two residues at one position, and a truncated protein is not a substitution. An
unknown residue (a letter outside the 20 amino acids and `*`) is refused in one line by the
variant parser, naming the row, before any model loads.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import dmsweep
from dmsweep.core.files import write_atomic
from dmsweep.data.pretrained import PretrainedDir, check_pretrained
from dmsweep.data.variants import ALPHABET
from dmsweep.errors import DataError, OutputError

STOP_CODE = ALPHABET.index("*")
METHOD = "masked-marginal log-likelihood ratio (sum over mutated positions)"


@dataclass(frozen=True)
class MarginalTable:
    """log p(residue) - log p(wild-type residue) at each masked wild-type position:
    `ratios` (L, 21) in ALPHABET order, 0 at the wild-type residue, nan in the stop column."""

    ratios: np.ndarray
    pretrained: PretrainedDir
    window: int
    """Residues of context per pass (the whole wild type when it fits)."""

    def score(self, codes: np.ndarray) -> np.ndarray:
        """Scores (n,) of int8 codes (n, L) of variants of this wild type: one lookup per
        position (the wild-type residue adds 0), nan for a variant with a stop codon."""
        positions = np.arange(codes.shape[1])[np.newaxis, :]
        return self.ratios[positions, codes.astype(np.int64)].sum(axis=1)

    def provenance(self, dataset: str, variants: int, stops: int) -> dict[str, Any]:
        return {
            "method": METHOD,
            "pretrained": self.pretrained.provenance(),
            "dataset": dataset,
            "wild_type_length": int(self.ratios.shape[0]),
            "context_window": self.window,
            "variants": variants,
            "variants_with_stop_not_scored": stops,
            "dmsweep_version": dmsweep.__version__,
        }


def masked_marginals(
    pretrained: Path | str, wild_type: str, *, batch_size: int = 32
) -> MarginalTable:
    """The (L, 21) table of `wild_type` under the masked LM in `pretrained` (checked first:
    a bad directory is a one-line DataError before TensorFlow loads)."""
    checked = check_pretrained(pretrained, key="--zero-shot")
    from dmsweep.models.hf import AutoTokenizer, TFAutoModelForMaskedLM
    from dmsweep.models.plm import max_residues, residue_token_ids, special_token_ids

    where = checked.path
    tokenizer = AutoTokenizer.from_pretrained(str(where), local_files_only=True)
    model = TFAutoModelForMaskedLM.from_pretrained(str(where), local_files_only=True)
    token_ids = np.asarray(residue_token_ids(tokenizer, where)[:STOP_CODE])
    special = special_token_ids(tokenizer)
    if "*" in wild_type:
        raise DataError(f"--zero-shot: the wild type has a stop codon at {wild_type.index('*')}")
    codes = np.asarray([ALPHABET.index(r) for r in wild_type], dtype=np.int64)
    window = max_residues(10**9, model.config, len(codes))
    ids, targets = masked_inputs(codes, token_ids, special, tokenizer.mask_token_id, window)
    log_p = np.concatenate(
        [_log_probs(model, ids[i : i + batch_size], targets[i : i + batch_size], token_ids)
         for i in range(0, len(ids), batch_size)]
    )  # fmt: skip
    ratios = log_p - log_p[np.arange(len(codes)), codes][:, np.newaxis]
    ratios = np.concatenate([ratios, np.full((len(codes), 1), np.nan)], axis=1)
    return MarginalTable(ratios=ratios, pretrained=checked, window=window)


def masked_inputs(
    codes: np.ndarray, token_ids: np.ndarray, special: dict[str, int], mask_id: int, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """One row per position i: `[CLS] window [SEP]` token ids with i masked, and the index
    of i's token in that row. All windows have the same length, so no padding is needed."""
    length = len(codes)
    starts = np.clip(np.arange(length) - window // 2, 0, length - window)
    rows = np.stack([token_ids[codes[s : s + window]] for s in starts])
    targets = np.arange(length) - starts + 1  # +1: [CLS]
    rows = np.concatenate(
        [np.full((length, 1), special["cls"]), rows, np.full((length, 1), special["sep"])], axis=1
    )
    rows[np.arange(length), targets] = mask_id
    return rows.astype(np.int32), targets


def _log_probs(model: Any, ids: np.ndarray, targets: np.ndarray, token_ids: np.ndarray) -> Any:
    """log-softmax over the whole vocabulary at each row's masked token, at the 20 residues."""
    from dmsweep.models.hf import tf

    logits = model(input_ids=ids, attention_mask=np.ones_like(ids), training=False).logits
    at_mask = tf.gather(logits, targets, axis=1, batch_dims=1)  # (batch, vocab)
    log_p = tf.nn.log_softmax(tf.cast(at_mask, tf.float64), axis=-1).numpy()
    return log_p[:, token_ids]


@dataclass(frozen=True)
class ZeroShotRequest:
    """What `predict --zero-shot` was asked: variants from the command line, a file, or
    (neither given) every variant of the dataset."""

    pretrained: Path
    dataset: str
    variants: list[str]
    file: Path | None = None
    output: Path | None = None
    data_dir: Path | None = None


def run_zero_shot(request: ZeroShotRequest) -> int:
    """Score, then write variant,predicted_score (CSV, as `predict`) and the provenance."""
    from dmsweep.data import load_card
    from dmsweep.train.predict import Prediction, write_predictions

    card = load_card(request.dataset, data_dir=request.data_dir)
    variants, codes = _request_codes(request, card)
    table = masked_marginals(request.pretrained, card.wild_type)
    scores = table.score(codes)
    stops = int(stop_variants(codes).sum())
    provenance = table.provenance(card.name, len(variants), stops)
    prediction = Prediction(variants, scores)
    if request.output is None:
        write_predictions(prediction, sys.stdout)
        print(f"zero-shot provenance: {json.dumps(provenance)}", file=sys.stderr)
        return 0
    request.output.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    write_predictions(prediction, text)
    try:
        write_atomic(request.output, text.getvalue())
        write_atomic(provenance_file(request.output), json.dumps(provenance, indent=2) + "\n")
    except OSError as err:
        raise OutputError(f"-o {request.output}: cannot write: {err.strerror or err}") from None
    return 0


def provenance_file(output: Path) -> Path:
    """OUT.csv -> OUT.provenance.json, beside the scores."""
    return output.with_suffix(".provenance.json")


def _request_codes(request: ZeroShotRequest, card: Any) -> tuple[list[str], np.ndarray]:
    """Variant names and codes; a bad variant is a one-line VariantError naming its row."""
    from dmsweep.data import encode_variants, load_dataset
    from dmsweep.train.predict import VariantInput, variants_from_file

    if request.file is None and not request.variants:
        dataset = load_dataset(card, data_dir=request.data_dir)
        return [v or "_wt" for v in dataset.variants], dataset.codes
    if request.file is not None:
        given = variants_from_file(request.file)
    else:
        from dmsweep.data import parse_variant_list

        given = VariantInput(parse_variant_list(" ".join(request.variants)), "command line")
    codes = encode_variants(
        given.variants, card.wild_type, offset=card.offset, source=given.source,
        first_row=given.first_row, row_name=given.row_name,
    )  # fmt: skip
    return given.variants, codes


def stop_variants(codes: np.ndarray) -> np.ndarray:
    """Which variants carry a stop codon (they get no score)."""
    return (codes == STOP_CODE).any(axis=1)


__all__ = ["METHOD", "MarginalTable", "masked_inputs", "masked_marginals", "stop_variants"]
