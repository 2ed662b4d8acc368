"""The atomic job folder (docs/job-contract.md): built under a temporary name, renamed when done.

A reader (aggregate, run_builder status) never sees a half-written job under its final name:
`JobFolder` writes into `<output>/.tmp-<job_id>-<random>/` and `publish()` renames it to
`<output>/<job_id>/`, replacing an older folder of the same job (a failed attempt, or --force).
Just before the rename it writes manifest.json (every file's size and SHA-256, the attempt):
whether a folder holds a valid result is then decided by `dmsweep.core.results`, for every
reader alike.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import traceback
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dmsweep.core.results import write_manifest
from dmsweep.errors import one_line
from dmsweep.jobfiles import (
    CONFIG,
    ERROR,
    HISTORY,
    METRICS,
    MODEL_DIR,
    MODEL_FILE,
    PREDICTIONS,
    PROVENANCE,
    SPLIT,
    TMP_PREFIX,
)
from dmsweep.train.provenance import now

TRACEBACK_LINES = 20
HISTORY_COLUMNS = ("epoch", "train_loss", "tune_loss")
PREDICTION_COLUMNS = ("variant", "true_score", "predicted_score")


class JobFolder:
    """One job folder under construction; `publish()` makes it visible under its job id."""

    def __init__(self, output_root: Path, job_id: str) -> None:
        output_root = Path(output_root)
        output_root.mkdir(parents=True, exist_ok=True)
        self.job_id = job_id
        self.final = output_root / job_id
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{job_id}-", dir=output_root))
        os.chmod(self.tmp, 0o755)
        self.attempt = uuid.uuid4().hex
        """Names this training's files in manifest.json: two attempts never pass as one."""
        self.published = False

    def path(self, name: str) -> Path:
        return self.tmp / name

    @property
    def model_file(self) -> Path:
        return self.tmp / MODEL_DIR / MODEL_FILE

    def write_json(self, name: str, content: Mapping[str, Any]) -> None:
        text = json.dumps(to_json(content), indent=2, allow_nan=False)
        self.path(name).write_text(text + "\n", encoding="utf-8")

    def write_config(self, flat: Mapping[str, Any]) -> None:
        self.write_json(CONFIG, {**flat, "job_id": self.job_id})

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        self.write_json(METRICS, {"job_id": self.job_id, **metrics})

    def write_provenance(self, provenance: Mapping[str, Any]) -> None:
        self.write_json(PROVENANCE, provenance)

    def write_history(self, rows: Iterable[Sequence[Any]]) -> None:
        with open(self.path(HISTORY), "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(HISTORY_COLUMNS)
            for epoch, train_loss, tune_loss in rows:
                writer.writerow([int(epoch), _number(train_loss), _number(tune_loss)])

    def write_predictions(
        self, variants: Sequence[str], true: np.ndarray, predicted: np.ndarray
    ) -> None:
        with open(self.path(PREDICTIONS), "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(PREDICTION_COLUMNS)
            for row in zip(variants, true, predicted, strict=True):
                writer.writerow([row[0], _number(row[1]), _number(row[2])])

    def write_split(self, assignment: np.ndarray) -> None:
        np.savez_compressed(self.path(SPLIT), assignment=np.asarray(assignment, np.int8))

    def write_error(self, error: BaseException, phase: str) -> None:
        tail = traceback.format_exception(type(error), error, error.__traceback__)
        lines = "".join(tail).rstrip("\n").splitlines()[-TRACEBACK_LINES:]
        self.write_json(
            ERROR,
            {
                "job_id": self.job_id,
                "type": type(error).__name__,
                "message": one_line(error),
                "phase": phase,
                "traceback_tail": "\n".join(lines),
                "time": now(),
            },
        )

    def publish(self) -> Path:
        """Write manifest.json (last), then rename into place, replacing an older folder of
        this job; returns the final path."""
        write_manifest(self.tmp, self.job_id, self.attempt)
        old = None
        if self.final.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{self.job_id}-old-", dir=self.final.parent)
            )
            os.rename(self.final, old / "job")
        os.rename(self.tmp, self.final)
        self.published = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def discard(self) -> None:
        if not self.published:
            shutil.rmtree(self.tmp, ignore_errors=True)


def to_json(value: Any) -> Any:
    """NumPy scalars and arrays to plain Python; non-finite floats to None (JSON null)."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def _number(value: Any) -> str:
    """A float32 value written with enough digits to read back exactly ('' when not finite)."""
    value = float(value)
    return f"{value:.9g}" if math.isfinite(value) else ""


def write_protein_predictions(
    path: Path,
    ids: Sequence[str],
    true: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str] = (),
) -> None:
    """predictions.csv of a protein set: `id,true_score,predicted_score` (regression), or
    `id,true_class,predicted_class,p_<class>...` (classification: probabilities per class)."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        if not classes:
            writer.writerow(("id", "true_score", "predicted_score"))
            for row in zip(ids, true, predicted, strict=True):
                writer.writerow([row[0], _number(row[1]), _number(row[2])])
            return
        writer.writerow(("id", "true_class", "predicted_class", *(f"p_{c}" for c in classes)))
        for doc_id, target, proba in zip(ids, true, predicted, strict=True):
            best = int(np.argmax(proba))
            writer.writerow(
                [doc_id, classes[int(target)], classes[best], *(f"{float(p):.6g}" for p in proba)]
            )
