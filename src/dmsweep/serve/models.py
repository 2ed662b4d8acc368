"""Which models a `dmsweep serve` TARGET names, and one served model: parse, score, describe.

A TARGET is a job folder, or (with `--best TYPE`) a run folder or aggregate's summary folder,
whose best.csv names the job folder of the best configuration of that model type. A served
model wraps `dmsweep.train.predict.TrainedJob`, so a request is validated by the same parser
with the same messages as `dmsweep predict`, and scored by the same `predict_scores`.

The wrapper holds a `Task`: how instances become model input and what a prediction is.
Variant regression (variants or full mutant sequences -> one score) is the only task trained
today; a sequence-classification task for protein sets adds a second `Task` (inputs
"sequences", outputs probabilities and a label) without touching the routes' plumbing.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from dmsweep.config import GCNParams
from dmsweep.core.results import judge_folder
from dmsweep.core.runfiles import RESULTS, RunPaths
from dmsweep.data import looks_like_sequence, sequence_variant
from dmsweep.errors import ConfigError, JobFolderError, VariantError
from dmsweep.serve.settings import DEFAULT_BATCH_SIZE
from dmsweep.train.predict import TrainedJob, VariantInput

if TYPE_CHECKING:
    from dmsweep.models import Scorer

BEST_CSV = "best.csv"
"""aggregate's selection table (dmsweep.aggregate.selection.best_per_model), one row per
model type; read here by name, never by importing the aggregator."""
SUMMARY = "summary"
"""The folder aggregate writes inside a run folder."""
REQUEST = "request"
"""How an error message names the request, as `dmsweep predict` names a file."""
VARIANT_REGRESSION = "variant_regression"


class InvalidInstance(ValueError):
    """One instance of a request cannot be scored: `index` (0-based) and the message."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class ModelSource:
    """A model to serve: the name clients use and its job folder."""

    name: str
    folder: Path


@dataclass(frozen=True)
class BestRow:
    """One row of best.csv: the job chosen for a model type, and where its folder is."""

    model: str
    job_id: str
    folder: Path


def read_best_csv(path: Path) -> list[BestRow]:
    """best.csv rows; JobFolderError naming the file, line and missing column."""
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
            header = rows[0].keys() if rows else ()
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise JobFolderError(f"{path}: cannot read: {err}") from None
    missing = [c for c in ("model", "job_id", "folder") if rows and c not in header]
    if missing:
        raise JobFolderError(f"{path}: missing column(s) {', '.join(missing)} (is it best.csv?)")
    out = []
    for line, row in enumerate(rows, start=2):
        model, job_id, folder = (str(row[c] or "").strip() for c in ("model", "job_id", "folder"))
        if not (model and job_id and folder):
            raise JobFolderError(f"{path}, line {line}: empty model, job_id or folder")
        out.append(BestRow(model, job_id, Path(folder)))
    return out


def resolve_targets(targets: Sequence[Path], *, best: str | None) -> list[ModelSource]:
    """The models TARGETs name: each job folder under its job id, or with `best` the best
    job of that model type from each run/summary folder, named `best-<type>`."""
    sources = (
        [_best_source(Path(t), best) for t in targets]
        if best is not None
        else [ModelSource(Path(t).name, Path(t)) for t in targets]
    )
    seen: dict[str, Path] = {}
    for source in sources:
        if source.name in seen:
            raise ConfigError(
                f"model name {source.name!r} given twice ({seen[source.name]} and "
                f"{source.folder}): serve each model once"
            )
        seen[source.name] = source.folder
    return sources


def _best_source(target: Path, model_type: str) -> ModelSource:
    best_csv = _find_best_csv(target)
    rows = read_best_csv(best_csv)
    chosen = [r for r in rows if r.model == model_type]
    if not chosen:
        known = ", ".join(sorted(r.model for r in rows)) or "none"
        raise ConfigError(f"{best_csv}: no row for --best {model_type} (model types: {known})")
    row = chosen[0]
    return ModelSource(f"best-{model_type}", _job_folder(row, best_csv))


def _find_best_csv(target: Path) -> Path:
    for candidate in (target / BEST_CSV, target / SUMMARY / BEST_CSV):
        if candidate.is_file():
            return candidate
    raise JobFolderError(
        f"{target}: no {BEST_CSV} here or in {target / SUMMARY} (--best needs a run folder "
        "or the summary folder `aggregate` wrote)"
    )


def _job_folder(row: BestRow, best_csv: Path) -> Path:
    """best.csv's folder (absolute when written); else the job id below the run's results
    folder, for a run folder that was moved or copied since it was aggregated."""
    candidates = [row.folder, best_csv.parent.parent / RESULTS / row.job_id]
    if best_csv.parent.name != SUMMARY:  # <results>-summary beside <results>
        stem = best_csv.parent.name.removesuffix("-summary")
        candidates.append(best_csv.parent.parent / stem / row.job_id)
    for folder in candidates:
        if folder.is_dir():
            return folder
    run = RunPaths(best_csv.parent.parent)
    raise JobFolderError(
        f"{best_csv}: job folder of {row.job_id} not found ({row.folder}, nor in {run.results})"
    )


@dataclass(frozen=True)
class ModelInfo:
    """What GET /v2/models/{name} reports: the model, its data and where it came from."""

    name: str
    job_id: str
    model_type: str
    task: str
    dataset: str
    wild_type: str
    offset: int
    attention: bool
    test_metrics: Mapping[str, float | int | None]
    dmsweep_version: str | None
    git_commit: str | None
    data_files: Mapping[str, str] = field(default_factory=dict)


class Task(Protocol):
    """How a task turns request instances into model input and describes its I/O names."""

    kind: str
    input_name: str
    output_name: str

    def parse(self, instances: Sequence[str]) -> np.ndarray: ...


class VariantRegression:
    """Variants ("A108D,N144D", "_wt") or full mutant sequences -> int8 codes -> one score."""

    kind = VARIANT_REGRESSION
    input_name = "variants"
    output_name = "score"

    def __init__(self, job: TrainedJob) -> None:
        self.job = job

    def parse(self, instances: Sequence[str]) -> np.ndarray:
        """int8 (n, L) codes; InvalidInstance names the first instance that cannot be read,
        with the message `dmsweep predict` prints for it."""
        card = self.job.card
        variants = []
        for index, text in enumerate(instances):
            if looks_like_sequence(text):
                try:
                    text = sequence_variant(text, card.wild_type, offset=card.offset)
                except VariantError as err:
                    raise InvalidInstance(index, f"{REQUEST}, instance {index}: {err}") from None
            variants.append(text)
        try:
            return self.job.encode(_request_input(variants))
        except VariantError:
            raise self._first_bad(variants) from None

    def _first_bad(self, variants: Sequence[str]) -> InvalidInstance:
        """The first bad variant by index (a batch reports a syntax error before a
        repeated position, wherever each is): each one alone, on the error path only."""
        for index, variant in enumerate(variants):
            try:
                self.job.encode(_request_input([variant], index))
            except VariantError as err:
                return InvalidInstance(index, str(err))
        raise AssertionError("a batch failed that no single variant fails")


def _request_input(variants: Sequence[str], first: int = 0) -> VariantInput:
    return VariantInput(list(variants), REQUEST, first_row=first, row_name="instance")


class ServedModel:
    """One job folder behind the API: checked at once (no TensorFlow), loaded by `load`."""

    def __init__(self, source: ModelSource, *, data_dir: Path | None = None) -> None:
        self.name = source.name
        self.job = TrainedJob(source.folder, data_dir=data_dir)  # JobFolderError if unusable
        self.task: Task = VariantRegression(self.job)
        self.info = _model_info(self.name, self.job)
        self._scores: Scorer = _not_loaded
        self._attention: Scorer = _not_loaded

    def load(self) -> None:
        """Load the Keras model, trace its prediction functions and run one warm-up
        prediction (the wild type), so the first request pays for neither."""
        from dmsweep.models import compiled_attention, compiled_scores

        length = len(self.info.wild_type)
        self._scores = compiled_scores(self.job.model, length)
        if self.info.attention:
            self._attention = compiled_attention(self.job.model, length)
            self.attention(self.task.parse(["_wt"]))
        self.scores(self.task.parse(["_wt"]))

    def scores(self, codes: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """float32 (n,): what `dmsweep predict` gives these codes (within 1e-6)."""
        return self._scores(codes, batch_size)

    def attention(self, codes: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """float32 (n, L): per-residue attention (`dmsweep predict --attention`)."""
        return self._attention(codes, batch_size)


def _not_loaded(codes: np.ndarray, batch_size: int) -> np.ndarray:
    raise RuntimeError("the model is not loaded yet (ServedModel.load)")


def _model_info(name: str, job: TrainedJob) -> ModelInfo:
    verdict = judge_folder(job.paths.root)
    if verdict.result is None:  # TrainedJob checked it a moment ago
        raise JobFolderError(f"{job.paths.root}: no valid result ({verdict.detail})")
    result = verdict.result
    test = result.metrics.splits.get("test")
    metrics = {k: _finite(v) for k, v in test.items()} if test is not None else {}
    provenance = result.provenance
    params = job.config.params
    return ModelInfo(
        name=name,
        job_id=result.job_id,
        model_type=job.config.model,
        task=VARIANT_REGRESSION,
        dataset=job.card.name,
        wild_type=job.card.wild_type,
        offset=job.card.offset,
        attention=isinstance(params, GCNParams) and params.pooling == "attention",
        test_metrics=metrics,
        dmsweep_version=provenance.dmsweep_version if provenance else None,
        git_commit=provenance.git_commit if provenance else None,
        data_files=dict(provenance.data_files) if provenance else {},
    )


def _finite(value: float | int | None) -> float | int | None:
    """JSON has no NaN: a metric that is not a finite number is reported as null."""
    if value is None or isinstance(value, int):
        return value
    return value if math.isfinite(value) else None
