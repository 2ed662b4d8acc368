"""Pretrained protein language models as files: their vocabulary, checks, checksum and origin.

No TensorFlow here: the run builder checks and copies a pretrained directory (a data file of
the run folder, by content hash), and the trainer reads its checksum and origin into
provenance. A usable directory is in Hugging Face format with TensorFlow weights:
`config.json`, `tf_model.h5` (or its sharded index) and the tokenizer files. A PyTorch-only
checkpoint is refused with how to convert it where PyTorch exists.

The vocabulary of `dmsweep pretrain` is ProtBERT's (30 tokens: 5 special, then residues in
ProtBERT's order, rare ones X U B Z O last), with residues written space-separated, so a
downloaded ProtBERT and a locally pretrained model tokenise a protein alike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmsweep.core.files import sha256_of
from dmsweep.errors import DataError

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PROTBERT_RESIDUES = "LAGVESIKRDTPNQFYMHCWXUBZO"
VOCABULARY: tuple[str, ...] = (*SPECIAL_TOKENS, *PROTBERT_RESIDUES)
"""ProtBERT's 30 tokens in its order: [PAD] is 0, [MASK] 4, L 5, ... O 29."""
PRESET_NAMES: tuple[str, ...] = ("tiny", "small")
"""The model sizes of `dmsweep pretrain --config` (dmsweep.train.pretrain.PRESETS)."""
CONFIG_FILE = "config.json"
TF_WEIGHTS = ("tf_model.h5", "tf_model.h5.index.json")
PT_WEIGHTS = ("pytorch_model.bin", "model.safetensors", "pytorch_model.bin.index.json")
PT_WEIGHTS_INDEX = "model.safetensors.index.json"
ORIGIN_KEY = "dmsweep"
"""The block `dmsweep pretrain` adds to config.json: how, on what and with which seed."""
LOCAL_ORIGIN = "locally pretrained with dmsweep pretrain (not ProtBERT, not any published model)"


@dataclass(frozen=True)
class PretrainedDir:
    """A checked pretrained directory: where it is, its content checksum and where it came
    from (the `dmsweep` block of a locally pretrained model, else the config's own name)."""

    path: Path
    checksum: str
    model_type: str
    origin: str
    local: dict[str, Any] | None

    def provenance(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": str(self.path),
            "checksum": self.checksum,
            "model_type": self.model_type,
            "origin": self.origin,
        }
        if self.local is not None:
            out[ORIGIN_KEY] = self.local
        return out


def check_pretrained(path: Path | str, *, key: str = "pretrained") -> PretrainedDir:
    """The directory checked (Hugging Face format, TensorFlow weights), checksummed and
    labelled; DataError in one line naming the directory and what is wrong."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{key}: {folder}: not a directory (a Hugging Face model directory)")
    config = _config(folder, key)
    if not any((folder / name).is_file() for name in TF_WEIGHTS):
        pytorch = [n for n in (*PT_WEIGHTS, PT_WEIGHTS_INDEX) if (folder / n).is_file()]
        if pytorch:
            raise DataError(
                f"{key}: {folder}: a PyTorch-only checkpoint ({pytorch[0]}, no tf_model.h5); "
                "dmsweep loads TensorFlow weights: convert it where PyTorch is installed with "
                "TFAutoModel.from_pretrained(DIR, from_pt=True).save_pretrained(DIR)"
            )
        raise DataError(f"{key}: {folder}: no tf_model.h5 (TensorFlow weights) in it")
    local = config.get(ORIGIN_KEY)
    origin = LOCAL_ORIGIN if isinstance(local, dict) else _external_origin(config)
    return PretrainedDir(
        path=folder,
        checksum=directory_checksum(folder),
        model_type=str(config.get("model_type", "unknown")),
        origin=origin,
        local=local if isinstance(local, dict) else None,
    )


def directory_checksum(folder: Path) -> str:
    """'sha256:<hex>' of every file below `folder` (relative path and content), so a copy
    elsewhere has the same checksum and any changed byte or file name changes it."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        digest.update(f"{rel}\0{sha256_of(file)}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def check_corpus_sequence(sequence: str, where: str) -> str:
    """A FASTA sequence as the vocabulary spells it: one terminal stop `*` dropped; any other
    letter outside the vocabulary is a DataError naming the record."""
    if sequence.endswith("*"):
        sequence = sequence[:-1]
    bad = sorted(set(sequence) - set(PROTBERT_RESIDUES))
    if bad:
        raise DataError(
            f"{where}: unknown residue(s) {''.join(bad)!r} (expected letters of "
            f"{PROTBERT_RESIDUES}; a stop '*' only at the end)"
        )
    if not sequence:
        raise DataError(f"{where}: empty sequence")
    return sequence


def _config(folder: Path, key: str) -> dict[str, Any]:
    file = folder / CONFIG_FILE
    if not file.is_file():
        raise DataError(f"{key}: {folder}: no {CONFIG_FILE} (not a Hugging Face model directory)")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{key}: {file}: not a readable JSON file ({err})") from None
    if not isinstance(config, dict):
        raise DataError(f"{key}: {file}: expected a JSON object")
    return config


def _external_origin(config: dict[str, Any]) -> str:
    name = config.get("_name_or_path") or "no name recorded"
    return f"external {config.get('model_type', 'unknown')} model ({name})"
