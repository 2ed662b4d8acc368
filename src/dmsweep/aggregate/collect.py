"""Read job folders into one record per folder, fast, with an incremental cache.

A record is one flat dict: bookkeeping (`folder`, `job_id`, `status`, `detail`, `notes`),
every parameter of config.json, every metric of metrics.json as `<split>_<metric>`, and
a few provenance fields. Nothing is dropped: a folder that cannot be read still gets a
record whose status says why (`corrupt`, `failed`, ...). Speed comes from reading only
config.json, metrics.json (or error.json) and provenance.json with one `os.read` each and
`json.loads`, no pandas per folder, and from the cache: a second run stats each folder and
re-reads only those whose files changed (see `Cache`).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dmsweep import __version__, jobfiles

OK = "ok"
DIVERGED = "diverged"
FAILED = "failed"
CORRUPT = "corrupt"
RUNNING = "running"
TRAINED = (OK, DIVERGED)
"""Statuses of a folder whose metrics.json was read: a row of summary.csv."""

SPLITS = ("train", "tune", "test")
REQUIRED_SPLIT_KEYS = ("mse", "pearson", "spearman", "r2", "n")
_REQUIRED_SPLIT_SET = frozenset(REQUIRED_SPLIT_KEYS)
REQUIRED_KEYS = ("epochs_run", "best_epoch")
"""metrics.json without one of these (or a split's REQUIRED_SPLIT_KEYS) is corrupt."""
LOSS_KEY = "mse"
"""A split whose `mse` is not a finite number means the training diverged."""

META_COLUMNS = ("folder", "job_id", "status", "detail", "notes")
PROVENANCE_KEYS = ("host", "dmsweep_version", "git_commit")
"""Fields of provenance.json that become columns."""

CACHE_FILE = ".aggregate-cache.pkl"
PARALLEL_ABOVE = 4000
"""Folders to read from which worker processes share the reading."""
PARALLEL_MIN_CPUS = 4
MAX_WORKERS = 8
_CHUNK = 500
_CACHE_FORMAT = 1
_TOP_LEVEL = (
    "epochs_run",
    "best_epoch",
    "early_stopped",
    "n_parameters",
    "seconds_per_epoch",
    "peak_memory_mb",
)
_FILES = (jobfiles.CONFIG, jobfiles.METRICS, jobfiles.ERROR, jobfiles.PROVENANCE)
_TMP_JOB = re.compile(r"^(?P<job>.+?-[0-9a-f]{12})(?:-.*)?$")


@dataclass(frozen=True)
class Collection:
    """Every job folder of a results folder, as records (one row per folder, index: folder)."""

    results: Path
    records: pd.DataFrame
    param_keys: tuple[str, ...]
    """Parameter columns (keys of config.json except job_id), in first-seen order."""
    signatures: dict[str, tuple[str, int]]
    """Folder name -> (signature, mask of the files read): what the cache compares."""
    n_read: int
    """Folders read this time (the rest came from the cache)."""
    n_cached: int
    skipped: tuple[str, ...] = field(default=())
    """Entries of the results folder that are not job folders (hidden folders)."""


def collect(
    results: Path,
    *,
    cache: Cache | None = None,
    exclude: Iterable[Path] = (),
    progress: bool | None = None,
    workers: int | None = None,
) -> Collection:
    """Read every job folder below `results`, re-using the records of unchanged folders.

    `exclude` names folders inside `results` that are not job folders (e.g. the output
    folder). `progress`: a tqdm bar (None: only on a terminal and for many folders).
    `workers`: processes that read (None: the CPUs available, at most MAX_WORKERS, when
    there are more than PARALLEL_ABOVE folders to read and at least PARALLEL_MIN_CPUS CPUs;
    1: read here).
    """
    results = Path(results)
    here = results.resolve()
    excluded = {p.name for p in map(Path, exclude) if p.resolve().parent == here}
    jobs, tmp, skipped = [], [], []
    with os.scandir(results) as entries:
        for entry in entries:
            if not entry.is_dir():
                continue
            if entry.name.startswith(jobfiles.TMP_PREFIX):
                tmp.append(entry.name)
            elif entry.name.startswith("."):
                skipped.append(entry.name)
            elif entry.name not in excluded:
                jobs.append(entry.name)

    cache = cache or Cache.empty(results)
    base = os.fspath(results) + os.sep
    unchanged, to_read = [], []
    for name in jobs:
        cached = cache.signatures.get(name)
        if cached is not None and _signature(base + name, cached[1]) == cached[0]:
            unchanged.append(name)
        else:
            to_read.append(name)

    fresh: list[dict[str, Any]] = []
    signatures = {name: cache.signatures[name] for name in unchanged}
    param_keys: dict[str, None] = dict.fromkeys(cache.param_keys)
    seen_key_sets: set[tuple[str, ...]] = set()
    for name, (record, signature, keys) in zip(
        to_read, _read_all(base, to_read, progress, workers), strict=True
    ):
        fresh.append(record)
        signatures[name] = signature
        if keys not in seen_key_sets:
            seen_key_sets.add(keys)
            param_keys.update(dict.fromkeys(keys))
    param_keys.pop("job_id", None)
    fresh.extend(_running_record(name) for name in tmp)

    kept = cache.records.loc[cache.records.index.intersection(pd.Index(unchanged))]
    new = pd.DataFrame.from_records(fresh)
    if not new.empty:
        new.index = pd.Index(new["folder"], name=None)
        _coerce_numbers(new, set(param_keys))
    parts = [df for df in (kept, new) if not df.empty]
    records = pd.concat(parts) if len(parts) > 1 else (parts[0] if parts else _empty())
    records = records.sort_index()
    return Collection(
        results=results,
        records=records,
        param_keys=tuple(param_keys),
        signatures=signatures,
        n_read=len(to_read),
        n_cached=len(unchanged),
        skipped=tuple(sorted(skipped)),
    )


def read_job_folder(path: str, name: str) -> tuple[dict[str, Any], tuple[str, int], tuple]:
    """One job folder -> (record, (signature, present-files mask), config.json keys)."""
    record: dict[str, Any] = {"folder": name, "job_id": name, "status": OK, "detail": ""}
    notes: list[str] = []
    parts, mask = [_dir_signature(path)], 0
    loaded = {}
    for bit, file in enumerate(_FILES):
        if file == jobfiles.ERROR and jobfiles.METRICS in loaded:
            continue  # only read when metrics.json is absent (the contract's failed job)
        data, stamp, problem = _load(f"{path}/{file}")
        if stamp is None:
            continue
        mask |= 1 << bit
        parts.append(stamp)
        loaded[file] = (data, problem)
    signature = ";".join(parts)

    config, c_problem = loaded.get(jobfiles.CONFIG, (None, "missing"))
    keys: tuple = ()
    config_problem = None
    if isinstance(config, dict):
        keys = _add_params(record, config, name, notes)
    else:
        config_problem = f"config.json {c_problem or 'not a JSON object'}"
    if jobfiles.METRICS in loaded:
        metrics, m_problem = loaded[jobfiles.METRICS]
        if m_problem is None and not isinstance(metrics, dict):
            m_problem = "not a JSON object"
        if m_problem is not None:
            _set(record, CORRUPT, f"metrics.json {m_problem}")
        else:
            _add_metrics(record, metrics, name, notes)
            if config_problem:
                earlier = record["detail"] + "; " if record["status"] == CORRUPT else ""
                _set(record, CORRUPT, f"{earlier}{config_problem}: parameters unknown")
    elif jobfiles.ERROR in loaded:
        error, e_problem = loaded[jobfiles.ERROR]
        _set(record, FAILED, _error_detail(error, e_problem))
    else:
        what = "empty folder" if not mask else "neither metrics.json nor error.json"
        _set(record, CORRUPT, what + (f"; {config_problem}" if config_problem else ""))

    if jobfiles.PROVENANCE in loaded:
        provenance, p_problem = loaded[jobfiles.PROVENANCE]
        if p_problem is None and isinstance(provenance, dict):
            for key in PROVENANCE_KEYS:
                value = provenance.get(key)
                record[key] = value if isinstance(value, str) else None
        else:
            notes.append(f"provenance.json {p_problem or 'not a JSON object'}")
    elif record["status"] in TRAINED:
        notes.append("provenance.json missing")
    record["notes"] = "; ".join(notes)
    return record, (signature, mask), keys


def _add_params(record: dict[str, Any], config: dict[str, Any], name: str, notes: list) -> tuple:
    record.update(config)
    record["job_id"] = name
    if config.get("job_id", name) != name:
        notes.append(f"config.json job_id {config['job_id']!r} differs from the folder name")
    for key, value in config.items():
        if type(value) is list:
            record[key] = "+".join(map(str, value))
        elif type(value) is dict:
            record[key] = json.dumps(value, sort_keys=True)
    return tuple(config)  # job_id included: collect() drops it once, not once per folder


def _add_metrics(record: dict[str, Any], metrics: dict[str, Any], name: str, notes: list) -> None:
    """Metric values go in as written; `coerce_numbers` later turns non-numbers into NaN."""
    splits = metrics.get("splits")
    splits = splits if type(splits) is dict else {}
    missing = [k for k in REQUIRED_KEYS if k not in metrics]
    diverged = []
    for split in SPLITS:
        values = splits.get(split)
        if type(values) is not dict:
            missing.append(f"splits.{split}")
        elif not values.keys() >= _REQUIRED_SPLIT_SET:
            missing.extend(f"splits.{split}.{k}" for k in REQUIRED_SPLIT_KEYS if k not in values)
    for split, values in splits.items():
        if type(values) is not dict:
            continue
        prefix = split + "_"
        for key, value in values.items():
            record[prefix + key] = value
        loss = values.get(LOSS_KEY, 0.0)
        if not (type(loss) is float or type(loss) is int) or not math.isfinite(loss):
            diverged.append(f"{split}_{LOSS_KEY}")
    for key in _TOP_LEVEL:
        if key in metrics:
            record[key] = metrics[key]
    timings = metrics.get("timings")
    if type(timings) is dict:
        record["runtime_s"] = timings.get("total")
        for phase, seconds in timings.items():
            if phase != "total":
                record[f"time_{phase}_s"] = seconds
    if metrics.get("job_id", name) != name:
        notes.append(f"metrics.json job_id {metrics.get('job_id')!r} differs from the folder name")
    if missing:
        _set(record, CORRUPT, "metrics.json lacks " + ", ".join(missing))
    elif diverged:
        _set(record, DIVERGED, "loss not a finite number (NaN or null): " + ", ".join(diverged))


def _coerce_numbers(records: pd.DataFrame, param_keys: set[str]) -> None:
    """Make every metric column numeric; a value that is not a number becomes NaN, with a note."""
    text = {*META_COLUMNS, *param_keys, *PROVENANCE_KEYS}
    for column in records.columns:
        if column in text or records[column].dtype.kind in "biuf":
            continue
        values = records[column]
        if column == "early_stopped":
            bad = values.notna() & ~values.map(lambda v: isinstance(v, bool))
            records[column] = values.where(~bad, None).astype(object)
        else:
            numbers = pd.to_numeric(values.map(_number_or_none), errors="coerce")
            bad = values.notna() & numbers.isna() & ~values.map(_is_nan)
            records[column] = numbers
        for index in records.index[bad]:
            note = f"{column}={values[index]!r} is not a number"
            records.loc[index, "notes"] = "; ".join(
                filter(None, [records.at[index, "notes"], note])
            )


def _number_or_none(value: Any) -> Any:
    return value if isinstance(value, int | float) else None


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _error_detail(error: Any, problem: str | None) -> str:
    if problem is not None or not isinstance(error, dict):
        return f"error.json {problem or 'not a JSON object'}"
    kind = error.get("type") or "error"
    message = str(error.get("message") or "").strip().replace("\n", " ")
    phase = error.get("phase")
    return f"{kind}: {message}" + (f" (during {phase})" if phase else "")


def _set(record: dict[str, Any], status: str, detail: str) -> None:
    record["status"], record["detail"] = status, detail


def _load(path: str) -> tuple[Any, str | None, str | None]:
    """(parsed JSON, 'mtime:size' stamp or None if absent, problem or None)."""
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
    if not data.strip():
        return None, stamp, "is empty"
    try:  # str, not bytes: json.loads then skips guessing the encoding (UTF-8 by contract)
        return json.loads(data.decode("utf-8")), stamp, None
    except (ValueError, RecursionError) as err:
        where = f" at line {err.lineno} column {err.colno}" if hasattr(err, "lineno") else ""
        reason = getattr(err, "msg", type(err).__name__)
        return None, stamp, f"is not valid JSON ({reason}{where}; truncated?)"


def _dir_signature(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_mtime_ns}:{st.st_ino}"


def _signature(path: str, mask: int) -> str | None:
    """The signature `read_job_folder` would record now, stat()ing only the known files."""
    try:
        parts = [_dir_signature(path)]
        for bit, file in enumerate(_FILES):
            if mask >> bit & 1:
                st = os.stat(f"{path}/{file}")
                parts.append(f"{st.st_mtime_ns}:{st.st_size}")
    except OSError:
        return None
    return ";".join(parts)


def in_progress(records: pd.DataFrame) -> np.ndarray:
    """True for the records of `.tmp-*` folders (trainings in progress)."""
    return np.array([n.startswith(jobfiles.TMP_PREFIX) for n in records.index.tolist()], bool)


def _running_record(name: str) -> dict[str, Any]:
    match = _TMP_JOB.match(name[len(jobfiles.TMP_PREFIX) :])
    job = match["job"] if match else name[len(jobfiles.TMP_PREFIX) :]
    return {
        "folder": name,
        "job_id": job,
        "status": RUNNING,
        "detail": f"in progress ({name})",
        "notes": "",
    }


def _read_all(
    base: str, names: list[str], progress: bool | None, workers: int | None
) -> Iterator[tuple]:
    """read_job_folder for each name, in order: in worker processes when there are many.

    Parsing JSON holds the GIL, so threads would not help; forked workers read chunks of
    folders in parallel (Linux only, where fork is the safe default).
    """
    bar = _progress_bar(len(names), progress)
    workers = _workers(len(names)) if workers is None else min(workers, len(names) // _CHUNK + 1)
    if workers < 2 or sys.platform != "linux":
        for name in names:
            yield read_job_folder(base + name, name)
            bar.update()
    else:
        chunks = [names[i : i + _CHUNK] for i in range(0, len(names), _CHUNK)]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for results in pool.map(_read_chunk, [base] * len(chunks), chunks):
                yield from results
                bar.update(len(results))
    bar.close()


def _read_chunk(base: str, names: list[str]) -> list[tuple]:
    return [read_job_folder(base + name, name) for name in names]


def _workers(n_folders: int) -> int:
    """Parallel reading pays from a few thousand folders on, with CPUs to spare: on two busy
    cores, sending 20,000 records back from workers cost more than it saved (the benchmark
    measured 2.7x the plain loop with two workers against 1.9x in one process)."""
    cpus = len(os.sched_getaffinity(0))
    if n_folders < PARALLEL_ABOVE or cpus < PARALLEL_MIN_CPUS:
        return 1
    return min(cpus, MAX_WORKERS, n_folders // _CHUNK + 1)


def _progress_bar(total: int, progress: bool | None) -> Any:
    """A tqdm bar: always (True), never (False), or (None) for many folders on a terminal."""
    from tqdm import tqdm

    if progress is False or (progress is None and total < 2000):
        disable = True
    else:
        disable = None if progress is None else False  # tqdm: None = off unless a terminal
    return tqdm(
        total=total, desc="reading job folders", unit="folder", mininterval=0.5, disable=disable
    )


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in META_COLUMNS})


@dataclass
class Cache:
    """What the last run read and wrote: per folder a signature (directory mtime and inode,
    mtime and size of each contract file read) and its record, plus the rendered lines of
    summary.csv. A pickle in the output folder; another results folder, dmsweep version or
    cache format starts afresh. In-progress (`.tmp-*`) folders are never cached."""

    results: Path
    param_keys: tuple[str, ...] = ()
    signatures: dict[str, tuple[str, int]] = field(default_factory=dict)
    records: pd.DataFrame = field(default_factory=lambda: _empty())
    csv_lines: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls, results: Path) -> Cache:
        return cls(Path(results))

    @classmethod
    def load(cls, path: Path, results: Path) -> Cache:
        """The cache at `path` if it was written for `results` by this version, else empty."""
        try:
            with open(path, "rb") as fh:
                stored = pickle.load(fh)
            if (
                isinstance(stored, Mapping)
                and stored.get("format") == _CACHE_FORMAT
                and stored.get("version") == __version__
                and stored.get("results") == os.fspath(Path(results).resolve())
            ):
                return cls(
                    Path(results),
                    tuple(stored["param_keys"]),
                    dict(stored["signatures"]),
                    stored["records"],
                    dict(stored["csv_lines"]),
                )
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, AttributeError, TypeError):
            pass
        return cls.empty(results)

    @classmethod
    def of(cls, collection: Collection, csv_lines: dict[str, Any]) -> Cache:
        records = collection.records
        final = records[~in_progress(records)]
        return cls(
            collection.results, collection.param_keys, collection.signatures, final, csv_lines
        )

    def save(self, path: Path) -> None:
        stored = {
            "format": _CACHE_FORMAT,
            "version": __version__,
            "results": os.fspath(self.results.resolve()),
            "param_keys": self.param_keys,
            "signatures": self.signatures,
            "records": self.records,
            "csv_lines": self.csv_lines,
        }
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(stored, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
