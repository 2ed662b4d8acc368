"""Score variants with a trained job folder (`dmsweep predict`).

A job folder carries everything needed: its copy of the dataset card (`dataset.yaml`: the
wild type and position offset, no data table needed) and model/model.keras, which holds the
model with its encoding table and residue graph as weights. Folders written before the card
was copied fall back to the card that config.json names.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from dmsweep.config import GCNParams, TrainConfig
from dmsweep.core.results import FAILED, FileManifest, judge_folder, verify_files
from dmsweep.data import DatasetCard, encode_variants, load_card, read_card
from dmsweep.errors import DataError, JobFolderError
from dmsweep.jobfiles import JobPaths
from dmsweep.train.outputs import one_line

VARIANT_COLUMN = "variant"


@dataclass(frozen=True)
class VariantInput:
    """Variants plus how to name one in an error (`<source>, <row_name> <first_row + i>`)."""

    variants: list[str]
    source: str
    first_row: int = 1
    row_name: str = "variant"


@dataclass(frozen=True)
class Prediction:
    """Predicted scores, and per-residue attention (n, L) when asked for, with column names."""

    variants: list[str]
    scores: np.ndarray
    attention: np.ndarray | None = None
    attention_columns: tuple[str, ...] = ()


class TrainedJob:
    """A finished job folder: its config, its dataset card and (loaded on demand) its model."""

    def __init__(self, folder: Path, *, data_dir: Path | None = None) -> None:
        self.paths = JobPaths(Path(folder))
        self.config = read_job_config(self.paths)
        self.card: DatasetCard = (
            read_card(self.paths.dataset_card)
            if self.paths.dataset_card.is_file()
            else load_card(self.config.data.dataset, data_dir=data_dir)
        )
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from dmsweep.models import load_model

            try:
                self._model = load_model(self.paths.model_file)
            except JobFolderError:
                raise
            except Exception as err:  # a corrupt or foreign file: one line, no traceback
                raise JobFolderError(
                    f"{self.paths.model_file}: cannot load the model: {one_line(err)}"
                ) from None
        return self._model

    def encode(self, given: VariantInput) -> np.ndarray:
        return encode_variants(
            given.variants,
            self.card.wild_type,
            offset=self.card.offset,
            source=given.source,
            first_row=given.first_row,
            row_name=given.row_name,
        )

    def check_attention(self) -> None:
        """JobFolderError unless the job is a gcn with attention pooling (read from its config)."""
        params = self.config.params
        if not (isinstance(params, GCNParams) and params.pooling == "attention"):
            detail = f"model {self.config.model!r}"
            if isinstance(params, GCNParams):
                detail += f", pooling {params.pooling!r}"
            raise JobFolderError(
                f"{self.paths.root}: --attention needs a gcn trained with pooling: attention "
                f"(this job: {detail})"
            )

    def predict(self, given: VariantInput, *, attention: bool = False) -> Prediction:
        """Scores for valid variants; VariantError (one line) names the first bad one."""
        from dmsweep.models import attention_scores, has_attention, predict_scores

        if attention:
            self.check_attention()
        codes = self.encode(given)  # validate before loading TensorFlow's model
        model = self.model
        scores = predict_scores(model, codes)
        if not attention:
            return Prediction(given.variants, scores)
        if not has_attention(model):
            raise JobFolderError(f"{self.paths.model_file}: the model has no attention pooling")
        offset = self.card.offset
        columns = tuple(
            f"attention_{residue}{offset + i}" for i, residue in enumerate(self.card.wild_type)
        )
        return Prediction(given.variants, scores, attention_scores(model, codes), columns)


def read_job_config(paths: JobPaths) -> TrainConfig:
    """The TrainConfig of a finished job; JobFolderError when the folder cannot predict:
    no valid result (the one definition, dmsweep.core.results), or a model file that is not
    the one the training wrote (its SHA-256 in manifest.json)."""
    root = paths.root
    if not root.is_dir():
        raise JobFolderError(f"{root}: job folder not found")
    if not paths.config.is_file():
        raise JobFolderError(f"{root}: not a job folder (no {paths.config.name})")
    verdict = judge_folder(root)
    if verdict.status == FAILED:
        raise JobFolderError(f"{root}: this training failed ({verdict.detail}): no model")
    if verdict.result is None:
        raise JobFolderError(f"{root}: no valid result ({verdict.detail})")
    check_model_file(paths, verdict.result.manifest)
    flat = dict(verdict.result.config)
    flat.pop("job_id", None)
    return TrainConfig.from_flat(flat, source=str(paths.config))


def check_model_file(paths: JobPaths, manifest: FileManifest) -> None:
    """JobFolderError unless the model file is the one manifest.json lists (size and hash)."""
    name = paths.model_file.relative_to(paths.root).as_posix()
    entry = manifest.files.get(name)
    if entry is None:
        raise JobFolderError(f"{paths.model_file}: not listed in {paths.manifest.name}: no model")
    listed = FileManifest(manifest.job_id, manifest.attempt, {name: entry})
    problem = verify_files(paths.root, listed, full=True)
    if problem is not None:
        raise JobFolderError(f"{paths.root}: {problem}; refusing to predict with it")


def variants_from_args(args: Sequence[str]) -> VariantInput:
    """Variants given on the command line; each argument may hold several (space or ';')."""
    from dmsweep.data import parse_variant_list

    return VariantInput(parse_variant_list(" ".join(args)), "command line")


def variants_from_file(path: Path) -> VariantInput:
    """A CSV/TSV with a `variant` column, or a plain list with one variant per line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read: {one_line(err)}") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: no variants")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    header = [h.strip() for h in lines[0].split(delimiter)]
    if VARIANT_COLUMN in header:
        return _variants_from_table(path, lines, delimiter)
    if path.suffix.lower() in (".csv", ".tsv"):
        raise DataError(
            f"{path}, line 1: missing column {VARIANT_COLUMN!r} (found {header}); "
            "a table needs a 'variant' column, a plain list one variant per line"
        )
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(f"{path}, line {number}: empty line (expected one variant per line)")
    return VariantInput([line.strip() for line in lines], str(path), 1, "line")


def _variants_from_table(path: Path, lines: list[str], delimiter: str) -> VariantInput:
    reader = csv.DictReader(lines, delimiter=delimiter)
    variants = []
    for number, row in enumerate(reader, start=2):
        if None in row:  # more fields than the header: the rest would be dropped silently
            fields = len(reader.fieldnames or []) + len(row[None])
            raise DataError(
                f"{path}, line {number}: {fields} fields, the header has "
                f"{len(reader.fieldnames or [])}; quote a variant that holds commas "
                '("K131R,L133P") or write one variant per line without a header'
            )
        value = (row.get(VARIANT_COLUMN) or "").strip()
        if not value and not any((v or "").strip() for v in row.values()):
            raise DataError(f"{path}, line {number}: empty line")
        variants.append(value)
    if not variants:
        raise DataError(f"{path}: no variants below the header")
    return VariantInput(variants, str(path), 2, "line")


def write_predictions(prediction: Prediction, stream: IO[str]) -> None:
    """CSV: variant,predicted_score[,attention_<residue><position> ...]."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["variant", "predicted_score", *prediction.attention_columns])
    for i, variant in enumerate(prediction.variants):
        row = [variant, f"{float(prediction.scores[i]):.9g}"]
        if prediction.attention is not None:
            row.extend(f"{float(v):.6g}" for v in prediction.attention[i])
        writer.writerow(row)
