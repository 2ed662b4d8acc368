"""What a job folder holds, and the one definition of "a valid result" (docs/job-contract.md).

The trainer (skip a config that has one), the run folder (`Run.completed`, hence status,
resubmit and run-local) and `aggregate` all ask `judge_folder`, so they can never disagree
about a folder: a truncated metrics.json, an impossible metric (`"pearson": true`, Infinity,
1e308) or a folder whose files did not all arrive is not a result for any of them.

A valid result is complete: the trainer writes `manifest.json` (every file's size and
SHA-256) last, just before the folder is renamed into place. `judge_folder` checks the hash of
each JSON file it reads (they are in memory anyway) and the size of every other listed file
(one stat), so files of two attempts of one job cannot mix and a file still arriving by
HTCondor file transfer is seen; `verify_files(..., full=True)` also hashes the model and
tables (predict does that for the model it loads). Reading stays at one `os.read` per JSON
file, so aggregating 20,000 folders stays fast.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dmsweep import jobfiles
from dmsweep.core.files import sha256_of

OK = "ok"
DIVERGED = "diverged"
FAILED = "failed"
CORRUPT = "corrupt"
RUNNING = "running"
TRAINED = (OK, DIVERGED)
"""Statuses of a folder whose metrics were read: a valid result (diverged is a valid, if poor,
outcome of training: retraining the same config would diverge again)."""

SPLITS = ("train", "tune", "test")
REGRESSION = "regression"
CLASSIFICATION_TASKS = ("binary", "multiclass")
TASKS = (REGRESSION, *CLASSIFICATION_TASKS)
"""metrics.json's `task`; absent means regression (every folder written before tasks)."""
REQUIRED_SPLIT_KEYS = ("mse", "pearson", "spearman", "r2", "n")
CLASSIFICATION_SPLIT_KEYS = ("log_loss", "accuracy", "balanced_accuracy", "macro_f1", "auroc", "n")
TABLE_KEYS = ("n_per_class", "confusion_matrix", "per_class")
"""A classification split's tables (not scalars): class counts, the confusion matrix (rows
true, columns predicted, in the order of `classes`) and per-class precision, recall, f1."""
PER_CLASS_KEYS = ("precision", "recall", "f1")
REQUIRED_KEYS = ("epochs_run", "best_epoch")
LOSS_KEY = "mse"
"""A split whose `mse` is null means the training diverged (the writer turns NaN into null)."""
LOSS_KEYS = {REGRESSION: LOSS_KEY, "binary": "log_loss", "multiclass": "log_loss"}
"""The loss of each task: null in a split means the training diverged."""

MAX_MAGNITUDE = 1e78
"""No metric of a float32 model can exceed this: squared differences of float32 values stay
below (2 * 3.4e38)^2 = 4.6e77. A larger number (1e308) is a damaged or forged file."""
_TOLERANCE = 1e-6
"""Rounding slack at the bounds of a bounded metric (a Pearson of 1.0000000002)."""
_RANGES: dict[str, tuple[float, float]] = {
    "mse": (0.0, MAX_MAGNITUDE),
    "pearson": (-1.0, 1.0),
    "spearman": (-1.0, 1.0),
    "r2": (-MAX_MAGNITUDE, 1.0),
}
_CLASSIFICATION_RANGES: dict[str, tuple[float, float]] = {
    "log_loss": (0.0, MAX_MAGNITUDE),
    "accuracy": (0.0, 1.0),
    "balanced_accuracy": (0.0, 1.0),
    "macro_f1": (0.0, 1.0),
    "auroc": (0.0, 1.0),
}
_FRACTION = re.compile(r"^(top\d+_overlap|ndcg\d+)$")
"""Extra split metrics that are fractions (0..1)."""
_NON_NEGATIVE = ("seconds_per_epoch", "peak_memory_mb")
MANIFEST_FORMAT = 1
T = TypeVar("T")


class ResultProblem(ValueError):
    """Why a file of a job folder is not what the contract says (one line)."""


@dataclass(frozen=True)
class SplitMetrics:
    """The metrics of one split; `extra` holds the ranking metrics (tune and test) or, for a
    classification task, the classification metrics; `tables` a classification split's
    class counts, confusion matrix and per-class metrics."""

    mse: float | None
    pearson: float | None
    spearman: float | None
    r2: float | None
    n: int
    extra: Mapping[str, float | None] = field(default_factory=dict)
    task: str = REGRESSION
    tables: Mapping[str, Any] = field(default_factory=dict)

    def items(self) -> list[tuple[str, float | int | None]]:
        """(metric, value) pairs, contract order first: the columns `<split>_<metric>`."""
        if self.task != REGRESSION:
            named = [(k, self.extra.get(k)) for k in CLASSIFICATION_SPLIT_KEYS if k != "n"]
            rest = [(k, v) for k, v in self.extra.items() if k not in CLASSIFICATION_SPLIT_KEYS]
            return [*named, ("n", self.n), *rest]
        base = [
            ("mse", self.mse),
            ("pearson", self.pearson),
            ("spearman", self.spearman),
            ("r2", self.r2),
            ("n", self.n),
        ]
        return base + list(self.extra.items())

    @property
    def loss(self) -> float | None:
        """The task's loss (mse, or log_loss for a classification): None when it diverged."""
        return self.mse if self.task == REGRESSION else self.extra.get(LOSS_KEYS[self.task])


@dataclass(frozen=True)
class Metrics:
    """metrics.json, checked: every value of the right JSON type and inside its range."""

    splits: Mapping[str, SplitMetrics]
    epochs_run: int
    best_epoch: int
    early_stopped: bool | None = None
    n_parameters: int | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    seconds_per_epoch: float | None = None
    peak_memory_mb: float | None = None
    job_id: str | None = None
    task: str = REGRESSION
    classes: tuple[str, ...] = ()
    """The class names of a classification task, in the order of its confusion matrices."""

    @property
    def diverged(self) -> tuple[str, ...]:
        """`<split>_<loss>` of each split whose loss is null (the training diverged)."""
        key = LOSS_KEYS[self.task]
        return tuple(f"{s}_{key}" for s, m in self.splits.items() if m.loss is None)

    @classmethod
    def from_json(cls, data: Any) -> Metrics:
        """Raises ResultProblem naming the first key that breaks the contract."""
        if type(data) is not dict:
            raise ResultProblem("not a JSON object")
        splits = data.get("splits")
        if type(splits) is not dict:
            raise ResultProblem("lacks splits" if splits is None else "splits: not an object")
        task = data.get("task", REGRESSION)
        if task not in TASKS:
            raise ResultProblem(f"task = {_show(task)}: expected one of {list(TASKS)}")
        classes = _classes(data.get("classes"), task)
        required = REQUIRED_SPLIT_KEYS if task == REGRESSION else CLASSIFICATION_SPLIT_KEYS
        missing = [k for k in REQUIRED_KEYS if k not in data]
        missing += [f"splits.{s}" for s in SPLITS if s not in splits]
        for split in SPLITS:
            values = splits.get(split)
            if type(values) is dict:
                missing += [f"splits.{split}.{k}" for k in required if k not in values]
        if missing:
            raise ResultProblem("lacks " + ", ".join(missing))
        epochs_run = _count(data["epochs_run"], "epochs_run")
        best_epoch = _count(data["best_epoch"], "best_epoch")
        if best_epoch > epochs_run:
            raise ResultProblem(f"best_epoch {best_epoch} > epochs_run {epochs_run}")
        job_id = data.get("job_id")
        return cls(
            splits={name: _split(values, name, task, classes) for name, values in splits.items()},
            epochs_run=epochs_run,
            best_epoch=best_epoch,
            early_stopped=_flag(data.get("early_stopped"), "early_stopped"),
            n_parameters=_optional_count(data.get("n_parameters"), "n_parameters"),
            timings=_timings(data.get("timings")),
            seconds_per_epoch=_non_negative(data.get("seconds_per_epoch"), "seconds_per_epoch"),
            peak_memory_mb=_non_negative(data.get("peak_memory_mb"), "peak_memory_mb"),
            job_id=job_id if type(job_id) is str else None,
            task=task,
            classes=classes,
        )


def _classes(value: Any, task: str) -> tuple[str, ...]:
    if task == REGRESSION:
        return ()
    if type(value) is not list or len(value) < 2 or any(type(c) is not str for c in value):
        raise ResultProblem(f"classes = {_show(value)}: expected a list of 2 or more class names")
    if task == "binary" and len(value) != 2:
        raise ResultProblem(f"classes: a binary task has 2 classes, got {len(value)}")
    return tuple(value)


@dataclass(frozen=True)
class Provenance:
    """The fields of provenance.json that readers use (the file holds more)."""

    host: str | None = None
    dmsweep_version: str | None = None
    git_commit: str | None = None
    device: str | None = None
    """What trained the model, e.g. "cpu: AMD EPYC" or "gpu: NVIDIA A100" (None before
    provenance.json recorded devices)."""
    data_files: Mapping[str, str] = field(default_factory=dict)
    """Data file (relative to the dataset folder) -> 'sha256:<hex>' the job trained on."""

    @classmethod
    def from_json(cls, data: Any) -> Provenance:
        if type(data) is not dict:
            raise ResultProblem("not a JSON object")
        texts = (_text(data.get(key)) for key in ("host", "dmsweep_version", "git_commit"))
        return cls(
            *texts,
            device=_device_label(data.get("device")),
            data_files=_checksums(data.get("data_files")),
        )


def _device_label(device: Any) -> str | None:
    if type(device) is not dict:
        return None
    kind, label = _text(device.get("kind")), _text(device.get("label"))
    return f"{kind}: {label}" if kind and label else kind


@dataclass(frozen=True)
class JobError:
    """error.json: why a training failed."""

    type: str
    message: str
    phase: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> JobError:
        if type(data) is not dict:
            raise ResultProblem("not a JSON object")
        message = " ".join(str(data.get("message") or "").split())
        return cls(_text(data.get("type")) or "error", message, _text(data.get("phase")))

    def summary(self) -> str:
        """'ValueError: message (during train)' on one line."""
        return f"{self.type}: {self.message}" + (f" (during {self.phase})" if self.phase else "")


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class FileManifest:
    """manifest.json of a job folder: every file (relative POSIX path) with size and hash,
    and the attempt that wrote them (a new one for every training, retries included)."""

    job_id: str
    attempt: str
    files: Mapping[str, FileEntry]

    def to_json(self) -> dict[str, Any]:
        files = {name: {"sha256": e.sha256, "bytes": e.size} for name, e in self.files.items()}
        return {
            "format": MANIFEST_FORMAT,
            "job_id": self.job_id,
            "attempt": self.attempt,
            "files": files,
        }

    @classmethod
    def from_json(cls, data: Any) -> FileManifest:
        if type(data) is not dict or type(data.get("files")) is not dict:
            raise ResultProblem("not a JSON object with files")
        if data.get("format") != MANIFEST_FORMAT:
            raise ResultProblem(f"format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
        job_id, attempt = data.get("job_id"), data.get("attempt")
        if type(job_id) is not str or type(attempt) is not str:
            raise ResultProblem("job_id and attempt must be strings")
        files = {}
        for name, entry in data["files"].items():
            if not _safe_relative(name):
                raise ResultProblem(f"file name {name!r} is not a path inside the job folder")
            if type(entry) is not dict or type(entry.get("sha256")) is not str:
                raise ResultProblem(f"{name}: expected {{'sha256': str, 'bytes': int}}")
            size = entry.get("bytes")
            if type(size) is not int or size < 0:
                raise ResultProblem(f"{name}: bytes must be an integer >= 0")
            files[name] = FileEntry(entry["sha256"], size)
        return cls(job_id, attempt, files)


@dataclass(frozen=True)
class JobResult:
    """One valid result: the job's config (flat, as written), metrics and provenance."""

    job_id: str
    config: Mapping[str, Any]
    metrics: Metrics
    provenance: Provenance | None
    manifest: FileManifest


@dataclass(frozen=True)
class Verdict:
    """What `judge_folder` found in one job folder.

    `status` is OK or DIVERGED (a valid result: `result` is set), FAILED (`error` is set),
    or CORRUPT (`detail` says why). `config` is config.json when it was a JSON object, even
    for a failed or corrupt folder (aggregate keeps the parameters of every row).
    """

    status: str
    detail: str = ""
    config: Mapping[str, Any] | None = None
    result: JobResult | None = None
    error: JobError | None = None
    provenance: Provenance | None = None
    notes: tuple[str, ...] = ()
    stamps: Mapping[str, str] = field(default_factory=dict)
    """File name -> 'mtime_ns:size' of each file read (what aggregate's cache compares)."""

    @property
    def valid(self) -> bool:
        return self.status in TRAINED

    @property
    def job_id(self) -> str | None:
        """The job id config.json names (None when it names none)."""
        value = self.config.get("job_id") if self.config is not None else None
        return value if type(value) is str else None

    def valid_for(self, job_id: str) -> bool:
        """A valid result of `job_id` itself (not a copy of another job under that name)."""
        return self.valid and self.job_id == job_id


READ_FILES = (
    jobfiles.CONFIG,
    jobfiles.METRICS,
    jobfiles.ERROR,
    jobfiles.PROVENANCE,
    jobfiles.MANIFEST,
)
"""The files `judge_folder` reads (error.json only when metrics.json is absent)."""


def judge_folder(path: str | os.PathLike[str]) -> Verdict:
    """Read one job folder and decide what it is; never raises for what is inside it."""
    base = os.fspath(path)
    loaded: dict[str, tuple[bytes | None, str | None]] = {}
    stamps: dict[str, str] = {}
    for name in READ_FILES:
        if name == jobfiles.ERROR and jobfiles.METRICS in loaded:
            continue
        data, stamp, problem = read_bytes(f"{base}/{name}")
        if stamp is not None:
            stamps[name] = stamp
            loaded[name] = (data, problem)
    notes: list[str] = []
    config, config_problem = _parsed(loaded, jobfiles.CONFIG)
    if config is not None and type(config) is not dict:
        config, config_problem = None, "not a JSON object"
    provenance = _provenance(loaded, notes)

    def verdict(status: str, detail: str = "", **extra: Any) -> Verdict:
        return Verdict(status, detail, config, provenance=provenance, notes=tuple(notes),
                       stamps=stamps, **extra)  # fmt: skip

    if jobfiles.METRICS not in loaded:
        if jobfiles.ERROR in loaded:
            job_error, problem = _typed(loaded, jobfiles.ERROR, JobError.from_json)
            if job_error is None:
                return verdict(FAILED, f"{jobfiles.ERROR} {problem}")
            return verdict(FAILED, job_error.summary(), error=job_error)
        what = "empty folder" if not loaded else f"neither {jobfiles.METRICS} nor {jobfiles.ERROR}"
        if config is None and jobfiles.CONFIG in loaded:
            what += f"; {jobfiles.CONFIG} {config_problem}"
        return verdict(CORRUPT, what)

    metrics, problem = _typed(loaded, jobfiles.METRICS, Metrics.from_json)
    if metrics is None:
        return verdict(CORRUPT, f"{jobfiles.METRICS} {problem}")
    if config is None:
        return verdict(
            CORRUPT, f"{jobfiles.CONFIG} {config_problem or 'missing'}: parameters unknown"
        )
    manifest, incomplete = _check_manifest(base, loaded)
    if incomplete is not None:
        return verdict(CORRUPT, f"incomplete: {incomplete}")
    assert manifest is not None
    job_id = config.get("job_id")
    job_id = job_id if type(job_id) is str else os.path.basename(base)
    if metrics.job_id is not None and metrics.job_id != job_id:
        return verdict(
            CORRUPT, f"{jobfiles.METRICS} job_id {metrics.job_id!r} is not config.json's {job_id!r}"
        )
    if manifest.job_id != job_id:
        return verdict(CORRUPT, f"{jobfiles.MANIFEST} job_id {manifest.job_id!r} is not {job_id!r}")
    result = JobResult(job_id, config, metrics, provenance, manifest)
    if metrics.diverged:
        detail = "loss not a finite number (NaN or null): " + ", ".join(metrics.diverged)
        return verdict(DIVERGED, detail, result=result)
    return verdict(OK, result=result)


def is_valid_result(folder: str | os.PathLike[str], job_id: str) -> bool:
    """True when `folder` holds a complete, valid result of `job_id` (the one test)."""
    return judge_folder(folder).valid_for(job_id)


def verify_files(root: Path, manifest: FileManifest, *, full: bool) -> str | None:
    """A problem with the files `manifest` lists, or None: sizes, and with `full` hashes."""
    for name, entry in manifest.files.items():
        path = root / name
        try:
            size = path.stat().st_size
        except OSError as err:
            return f"{name} listed in {jobfiles.MANIFEST} but unreadable ({err.strerror})"
        if size != entry.size:
            return f"{name} has {size} bytes, {jobfiles.MANIFEST} says {entry.size}"
        if full and sha256_of(path) != entry.sha256:
            return f"{name} does not match its checksum in {jobfiles.MANIFEST}"
    return None


def build_manifest(root: Path, job_id: str, attempt: str) -> FileManifest:
    """Hash every file below `root` (the finished job folder), manifest.json excepted."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        name = path.relative_to(root).as_posix()
        if name != jobfiles.MANIFEST:
            files[name] = FileEntry(sha256_of(path), path.stat().st_size)
    return FileManifest(job_id, attempt, files)


def write_manifest(root: Path, job_id: str, attempt: str) -> FileManifest:
    """Write manifest.json: the last file of a job folder (its presence means complete)."""
    manifest = build_manifest(root, job_id, attempt)
    text = json.dumps(manifest.to_json(), indent=1, sort_keys=True) + "\n"
    (root / jobfiles.MANIFEST).write_text(text, encoding="utf-8")
    return manifest


def read_bytes(path: str) -> tuple[bytes | None, str | None, str | None]:
    """(content, 'mtime_ns:size' stamp or None if absent, problem or None): one open, one
    read. A symlink loop or a folder where a file should be is a problem, not an exception."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None, None, None
    except OSError as err:
        return None, "0:0", f"unreadable ({err.strerror})"
    try:
        st = os.fstat(fd)
        stamp = f"{st.st_mtime_ns}:{st.st_size}"
        data = os.read(fd, st.st_size + 1)
        while len(data) > st.st_size:  # grew since fstat: read to the end
            more = os.read(fd, 1 << 20)
            if not more:
                break
            data += more
    except OSError as err:
        return None, "0:0", f"unreadable ({err.strerror})"
    finally:
        os.close(fd)
    return data, stamp, None


def parse_json(data: bytes) -> tuple[Any, str | None]:
    """(value, problem or None). NaN and Infinity are not JSON: the writer never emits them."""
    if not data.strip():
        return None, "is empty"
    try:  # str, not bytes: json.loads then skips guessing the encoding (UTF-8 by contract)
        return _DECODER.decode(data.decode("utf-8")), None
    except ResultProblem as err:
        return None, str(err)
    except (ValueError, RecursionError) as err:
        where = f" at line {err.lineno} column {err.colno}" if hasattr(err, "lineno") else ""
        reason = getattr(err, "msg", type(err).__name__)
        return None, f"is not valid JSON ({reason}{where}; truncated?)"


def _no_constant(name: str) -> Any:
    raise ResultProblem(f"holds {name}, which is not a JSON number (the contract writes null)")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
"""One decoder for every file (json.loads with an option builds a new one per call)."""


def _parsed(
    loaded: Mapping[str, tuple[bytes | None, str | None]], name: str
) -> tuple[Any, str | None]:
    if name not in loaded:
        return None, "missing"
    data, problem = loaded[name]
    if problem is not None or data is None:
        return None, problem or "unreadable"
    return parse_json(data)


def _typed(
    loaded: Mapping[str, tuple[bytes | None, str | None]], name: str, parse: Callable[[Any], T]
) -> tuple[T | None, str | None]:
    """(record, None) or (None, problem): the file parsed as JSON, then as its typed record."""
    data, problem = _parsed(loaded, name)
    if problem is not None:
        return None, problem
    try:
        return parse(data), None
    except ResultProblem as err:
        return None, str(err)


def _provenance(
    loaded: Mapping[str, tuple[bytes | None, str | None]], notes: list[str]
) -> Provenance | None:
    if jobfiles.PROVENANCE not in loaded:
        return None
    provenance, problem = _typed(loaded, jobfiles.PROVENANCE, Provenance.from_json)
    if problem is not None:
        notes.append(f"{jobfiles.PROVENANCE} {problem}")
    return provenance


def _check_manifest(
    base: str, loaded: Mapping[str, tuple[bytes | None, str | None]]
) -> tuple[FileManifest | None, str | None]:
    """(manifest, None) when every listed file is there as listed, else (None, why)."""
    if jobfiles.MANIFEST not in loaded:
        return (
            None,
            f"no {jobfiles.MANIFEST} (written last: the folder is incomplete, or older than it)",
        )
    manifest, problem = _typed(loaded, jobfiles.MANIFEST, FileManifest.from_json)
    if problem is not None:
        return None, f"{jobfiles.MANIFEST} {problem}"
    for name in (jobfiles.CONFIG, jobfiles.METRICS):
        if name not in manifest.files:
            return None, f"{name} not listed in {jobfiles.MANIFEST}"
    for name, entry in manifest.files.items():
        if name in loaded:
            content = loaded[name][0] or b""
            if len(content) != entry.size or hashlib.sha256(content).hexdigest() != entry.sha256:
                return None, f"{name} does not match {jobfiles.MANIFEST} (from another attempt?)"
            continue
        try:
            size = os.stat(f"{base}/{name}").st_size
        except OSError as err:
            return None, f"{name} listed in {jobfiles.MANIFEST} is {_absent(err)}"
        if size != entry.size:
            return None, f"{name} has {size} of {entry.size} bytes (still arriving?)"
    if jobfiles.PROVENANCE in loaded and jobfiles.PROVENANCE not in manifest.files:
        return (
            None,
            f"{jobfiles.PROVENANCE} not listed in {jobfiles.MANIFEST} (from another attempt?)",
        )
    return manifest, None


def _absent(err: OSError) -> str:
    return "missing" if isinstance(err, FileNotFoundError) else f"unreadable ({err.strerror})"


def _safe_relative(name: Any) -> bool:
    if type(name) is not str or not name or "\\" in name or "\x00" in name:
        return False
    parts = name.split("/")  # plain string work: pathlib here cost 20,000 folders a second
    return not name.startswith("/") and ".." not in parts and "." not in parts


def _split(
    values: Any, name: str, task: str = REGRESSION, classes: tuple[str, ...] = ()
) -> SplitMetrics:
    if type(values) is not dict:
        raise ResultProblem(f"splits.{name}: not an object")
    checked: dict[str, float | None] = {}
    tables: dict[str, Any] = {}
    for key, value in values.items():
        if key == "n":
            continue
        if task != REGRESSION and key in TABLE_KEYS:
            tables[key] = _table(key, value, f"splits.{name}.{key}", classes)
            continue
        kind = type(value)
        if value is None:  # a metric that cannot be computed (constant predictions)
            checked[key] = None
            continue
        low, high = _range_of(key)
        if (kind is float or kind is int) and low <= value <= high:  # the common case, fast
            checked[key] = value
            continue
        checked[key] = _number(value, f"splits.{name}.{key}", *metric_range(key))
    n = _count(values.get("n"), f"splits.{name}.n")
    if task != REGRESSION:
        return SplitMetrics(None, None, None, None, n, checked, task, tables)
    extra = {k: v for k, v in checked.items() if k not in _RANGES}
    return SplitMetrics(
        checked.get("mse"),
        checked.get("pearson"),
        checked.get("spearman"),
        checked.get("r2"),
        n,
        extra,
    )


def _table(key: str, value: Any, where: str, classes: tuple[str, ...]) -> Any:
    """A classification table checked: counts per class, a C x C count matrix, or
    per-class fractions (None where undefined), over exactly the task's classes."""
    if key == "confusion_matrix":
        ok = type(value) is list and len(value) == len(classes)
        ok = ok and all(type(row) is list and len(row) == len(classes) for row in value)
        if not ok:
            raise ResultProblem(f"{where}: expected a {len(classes)} x {len(classes)} matrix")
        for row in value:
            for count in row:
                _count(count, where)
        return value
    if type(value) is not dict or set(value) != set(classes):
        raise ResultProblem(f"{where}: expected an object with one entry per class")
    if key == "n_per_class":
        return {c: _count(v, f"{where}.{c}") for c, v in value.items()}
    out = {}
    for c, entry in value.items():
        if type(entry) is not dict:
            raise ResultProblem(f"{where}.{c}: expected an object of {list(PER_CLASS_KEYS)}")
        out[c] = {
            k: None if v is None else _number(v, f"{where}.{c}.{k}", 0.0, 1.0)
            for k, v in entry.items()
        }
    return out


@functools.cache
def _range_of(key: str) -> tuple[float, float]:
    """metric_range with its rounding slack, once per metric name (20,000 folders ask)."""
    low, high = metric_range(key)
    return low - _TOLERANCE, high + _TOLERANCE


def metric_range(key: str) -> tuple[float, float]:
    """(low, high) a split metric of this name can take; the one definition, read by the
    validity check here and by the plots (which clip intervals to it)."""
    if key in _RANGES:
        return _RANGES[key]
    if key in _CLASSIFICATION_RANGES:
        return _CLASSIFICATION_RANGES[key]
    return (0.0, 1.0) if _FRACTION.match(key) else (-MAX_MAGNITUDE, MAX_MAGNITUDE)


def _number(value: Any, where: str, low: float, high: float) -> float:
    kind = type(value)
    if kind is not float and kind is not int:
        raise ResultProblem(f"{where} = {_show(value)}: expected a number")
    if not (low - _TOLERANCE <= value <= high + _TOLERANCE):  # NaN fails this too
        raise ResultProblem(
            f"{where} = {value!r}: outside its possible range {_show_range(low, high)}"
        )
    return value


def _count(value: Any, where: str) -> int:
    if type(value) is not int or value < 0:
        raise ResultProblem(f"{where} = {_show(value)}: expected an integer >= 0")
    return value


def _optional_count(value: Any, where: str) -> int | None:
    return None if value is None else _count(value, where)


def _flag(value: Any, where: str) -> bool | None:
    if value is not None and type(value) is not bool:
        raise ResultProblem(f"{where} = {_show(value)}: expected true or false")
    return value


def _non_negative(value: Any, where: str) -> float | None:
    return None if value is None else _number(value, where, 0.0, MAX_MAGNITUDE)


def _timings(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise ResultProblem(f"timings = {_show(value)}: expected an object of seconds")
    return {str(k): _number(v, f"timings.{k}", 0.0, MAX_MAGNITUDE) for k, v in value.items()}


def _checksums(value: Any) -> dict[str, str]:
    """provenance.json's data_files; entries that are not text are left out (a note-level
    field: a reader shows it, nothing decides on it)."""
    if type(value) is not dict:
        return {}
    return {k: v for k, v in value.items() if type(k) is str and type(v) is str}


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


def _show(value: Any) -> str:
    text = (
        json.dumps(value)
        if value is None or type(value) in (bool, int, float, str)
        else type(value).__name__
    )
    return text if len(text) <= 40 else text[:37] + "..."


def _show_range(low: float, high: float) -> str:
    if low <= -MAX_MAGNITUDE:
        return f"<= {high:g}"
    if high >= MAX_MAGNITUDE:
        return f">= {low:g}"
    return f"{low:g}..{high:g}"
