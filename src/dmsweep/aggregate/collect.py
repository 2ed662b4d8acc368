"""Read job folders into one record per folder, fast, with an incremental cache.

A record is one flat dict: bookkeeping (`folder`, `job_id`, `status`, `detail`, `notes`),
every parameter of config.json, every metric of metrics.json as `<split>_<metric>`, and
a few provenance fields. Nothing is dropped: a folder that cannot be read still gets a
record whose status says why (`corrupt`, `failed`, ...). Speed comes from reading only
what `judge_folder` needs (config.json, metrics.json or error.json, provenance.json,
manifest.json) with one `os.read` each and `json.loads`, no pandas per folder, and from
the cache: a second run stats each folder and re-reads only those whose files changed
(see `Cache`).
"""

from __future__ import annotations

import functools
import json
import math
import multiprocessing
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dmsweep import __version__, jobfiles
from dmsweep.core.files import replacing
from dmsweep.core.results import (
    CORRUPT,
    DIVERGED,
    FAILED,
    OK,
    READ_FILES,
    RUNNING,
    SPLITS,
    TRAINED,
    Metrics,
    Verdict,
    judge_folder,
)

DUPLICATE = "duplicate"
"""A trained folder whose job id another folder already holds (a copy): not counted again."""
META_COLUMNS = ("folder", "job_id", "status", "detail", "notes")
PROVENANCE_KEYS = ("host", "dmsweep_version", "git_commit", "device")
"""Fields of provenance.json that become columns."""
TEXT_METRICS = ("task",)
"""metrics.json fields that are text: a classification's task (binary, multiclass)."""

CACHE_FILE = ".aggregate-cache.arrow"
OLD_CACHE_FILES = (".aggregate-cache.pkl", ".aggregate-cache.json")
"""Caches of earlier versions (a pickle, then JSON): never opened, removed when seen."""
PARALLEL_ABOVE = 4000
"""Folders to read from which worker processes share the reading."""
PARALLEL_MIN_IDLE_CPUS = 1.0
"""CPUs the last minute's load average must leave idle for worker processes to read."""
MAX_WORKERS = 8
_CHUNK = 500
_CACHE_FORMAT = 4
_OPTIONAL_TOP_LEVEL = ("early_stopped", "n_parameters", "seconds_per_epoch", "peak_memory_mb")
_REREAD = "reread:"
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
    `workers`: processes that read (None: as many as there are idle CPUs, at most
    MAX_WORKERS, when there are more than PARALLEL_ABOVE folders to read and at least
    PARALLEL_MIN_IDLE_CPUS idle CPUs; 1: read here).
    """
    results = Path(results)
    here = results.resolve()
    excluded = {p.name for p in map(Path, exclude) if p.resolve().parent == here}
    jobs, tmp, skipped, broken = [], [], [], []
    with os.scandir(results) as entries:
        for entry in entries:
            try:
                if not entry.is_dir():
                    continue
            except OSError as err:  # a symlink loop: that entry's problem, not the summary's
                broken.append(_unreadable_record(entry.name, err))
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
    fresh.extend(broken)

    kept = np.flatnonzero(cache.records.index.isin(unchanged))
    new = pd.DataFrame.from_records(fresh)
    if not new.empty:
        new.index = pd.Index(new["folder"], name=None)
        _coerce_numbers(new, set(param_keys))
    records = _merged(cache.records, kept, new)
    return Collection(
        results=results,
        records=records,
        param_keys=tuple(param_keys),
        signatures=signatures,
        n_read=len(to_read),
        n_cached=len(unchanged),
        skipped=tuple(sorted(skipped)),
    )


def _merged(cached: pd.DataFrame, kept: np.ndarray, new: pd.DataFrame) -> pd.DataFrame:
    """The cached records at positions `kept` and the `new` ones, sorted by folder name.

    One concatenation and one take: selecting the kept rows, concatenating and then sorting
    copied every column three times, a tenth of a second for 20,000 folders. The folder names
    (the index) are unique, so the order is the one `sort_index` gives.
    """
    if new.empty and not len(kept):
        return _empty()
    if new.empty:
        combined, rows = cached, kept
    elif not len(kept):
        combined, rows = new, np.arange(len(new))
    else:
        combined = pd.concat([cached, new])
        rows = np.concatenate([kept, len(cached) + np.arange(len(new))])
    names = combined.index.to_numpy()[rows]
    return combined.take(rows[np.argsort(names, kind="stable")])


def read_job_folder(path: str, name: str) -> tuple[dict[str, Any], tuple[str, int], tuple]:
    """One job folder -> (record, (signature, present-files mask), config.json keys).

    What the folder is (ok, diverged, failed, corrupt) is `judge_folder`'s verdict, the one
    definition of a valid result that the trainer and run_builder use too.
    """
    verdict = judge_folder(path)
    try:
        signature = _signature_of(path, verdict)
    except OSError as err:  # removed or replaced while being read: read it again next time
        signature = (f"{_REREAD}{err.errno}", 0)
    record: dict[str, Any] = {
        "folder": name,
        "job_id": name,
        "status": verdict.status,
        "detail": verdict.detail,
    }
    notes = list(verdict.notes)
    keys: tuple = ()
    if verdict.config is not None:
        keys = _add_params(record, verdict.config, name, notes)
    if verdict.result is not None:
        record["job_id"] = verdict.result.job_id
        _add_metrics(record, verdict.result.metrics)
    if verdict.provenance is not None:
        for key in PROVENANCE_KEYS:
            record[key] = getattr(verdict.provenance, key)
    elif verdict.valid and jobfiles.PROVENANCE not in verdict.stamps:
        notes.append("provenance.json missing")
    record["notes"] = "; ".join(notes)
    return record, signature, keys


def _signature_of(path: str, verdict: Verdict) -> tuple[str, int]:
    """(signature, mask of the files read). A folder that is not yet a result (corrupt: e.g.
    files still arriving by HTCondor file transfer) gets a signature no stat can match, so
    the next run reads it again rather than remembering it as corrupt."""
    parts, mask = [_dir_signature(path)], 0
    for bit, file in enumerate(READ_FILES):
        stamp = verdict.stamps.get(file)
        if stamp is not None:
            mask |= 1 << bit
            parts.append(stamp)
    signature = ";".join(parts)
    return (_REREAD + signature if verdict.status == CORRUPT else signature), mask


def _add_params(record: dict[str, Any], config: Mapping[str, Any], name: str, notes: list) -> tuple:
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


def _add_metrics(record: dict[str, Any], metrics: Metrics) -> None:
    """Checked metric values (numbers or None) as `<split>_<metric>` columns."""
    for split, values in metrics.splits.items():
        prefix = split + "_"
        for key, value in values.items():
            record[prefix + key] = value
        if split == "test":
            _add_per_class(record, values.tables)
    if metrics.task != "regression":
        record["task"] = metrics.task
    record["epochs_run"] = metrics.epochs_run
    record["best_epoch"] = metrics.best_epoch
    for key in _OPTIONAL_TOP_LEVEL:
        value = getattr(metrics, key)
        if value is not None:
            record[key] = value
    if metrics.timings:
        record["runtime_s"] = metrics.timings.get("total")
        for phase, seconds in metrics.timings.items():
            if phase != "total":
                record[f"time_{phase}_s"] = seconds


def _add_per_class(record: dict[str, Any], tables: Mapping[str, Any]) -> None:
    """A classification's test split per class: `test_recall_<class>`, `test_f1_<class>`,
    `test_n_<class>` (summary.csv columns; class names as the card spells them)."""
    for name, values in (tables.get("per_class") or {}).items():
        for key in ("recall", "f1"):
            record[f"test_{key}_{name}"] = values.get(key)
    for name, count in (tables.get("n_per_class") or {}).items():
        record[f"test_n_{name}"] = count


def mark_copies(records: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """A job folder copied under another name is counted once: of the trained records that
    share a job id, the folder named by it (else the first by name) stays; the others become
    DUPLICATE, with a note naming both folders. Returns (records, one warning per job)."""
    if records.empty:
        return records, []
    trained = records.loc[records["status"].isin(TRAINED), ["job_id"]]  # one column: fast
    shared = trained[trained["job_id"].duplicated(keep=False)]
    if shared.empty:
        return records, []
    records = records.copy()
    warnings = []
    for job_id, group in shared.groupby("job_id", sort=True):
        folders = sorted(group.index.tolist())
        keep = job_id if job_id in folders else folders[0]
        copies = [f for f in folders if f != keep]
        for folder in copies:
            records.loc[folder, "status"] = DUPLICATE
            records.loc[folder, "detail"] = f"copy of {keep} (same job {job_id}): counted once"
        warnings.append(
            f"job {job_id} is in {len(folders)} folders: {keep} counted, "
            f"{', '.join(copies)} skipped as copies"
        )
    return records, warnings


def _coerce_numbers(records: pd.DataFrame, param_keys: set[str]) -> None:
    """Make every metric column numeric; a value that is not a number becomes NaN, with a note."""
    text = {*META_COLUMNS, *param_keys, *PROVENANCE_KEYS, *TEXT_METRICS}
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


def _dir_signature(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_mtime_ns}:{st.st_ino}"


def _signature(path: str, mask: int) -> str | None:
    """The signature `read_job_folder` would record now, stat()ing only the known files.

    Called once per folder on every rerun (20,000 times for 20,000 folders), so it does no
    more than the five stats: the file suffixes of a mask are worked out once per mask.

    Why every file is stat()ed and not only the folder: the folder's mtime and inode change
    when a file is created, removed or renamed in it, or the folder is replaced, but not
    when a file is rewritten in place (HTCondor transferring a rerun's metrics.json back
    into the same folder, a hand edit): only that file's own mtime and size show it.
    """
    try:
        parts = [_dir_signature(path)]
        for suffix in _suffixes(mask):
            st = os.stat(path + suffix)
            parts.append(f"{st.st_mtime_ns}:{st.st_size}")
    except OSError:
        return None
    return ";".join(parts)


@functools.cache
def _suffixes(mask: int) -> tuple[str, ...]:
    """`/<file>` for each file of READ_FILES whose bit is set in `mask`, in that order."""
    return tuple(f"/{file}" for bit, file in enumerate(READ_FILES) if mask >> bit & 1)


def in_progress(records: pd.DataFrame) -> np.ndarray:
    """True for the records of `.tmp-*` folders (trainings in progress)."""
    return np.array([n.startswith(jobfiles.TMP_PREFIX) for n in records.index.tolist()], bool)


def _unreadable_record(name: str, err: OSError) -> dict[str, Any]:
    return {
        "folder": name,
        "job_id": name,
        "status": CORRUPT,
        "detail": f"cannot read this folder: {err.strerror or err}",
        "notes": "",
    }


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
    """Parallel reading pays from a few thousand folders on, with CPUs to spare, and CPUs to
    spare are what the load average says: on two busy cores, sending 20,000 records back
    from workers cost more than it saved (the benchmark measured 2.7x the plain loop with
    two workers against 1.9x in one process), on two idle ones two workers read them in
    2.0 s instead of 3.0 s. A CPU count alone cannot tell these apart."""
    if n_folders < PARALLEL_ABOVE:
        return 1
    try:
        idle = len(os.sched_getaffinity(0)) - os.getloadavg()[0]
    except OSError:  # no load average to read
        return 1
    if idle < PARALLEL_MIN_IDLE_CPUS:
        return 1
    return min(max(2, round(idle)), MAX_WORKERS)


def _progress_bar(total: int, progress: bool | None) -> Any:
    """A tqdm bar: always (True), never (False), or (None) for many folders on a terminal.
    No bar at all when it would be off: importing tqdm costs more than a rerun's reading."""
    if progress is False or (progress is None and total < 2000):
        return _NoBar()
    from tqdm import tqdm

    disable = None if progress is None else False  # tqdm: None = off unless a terminal
    return tqdm(
        total=total, desc="reading job folders", unit="folder", mininterval=0.5, disable=disable
    )


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in META_COLUMNS})


@dataclass
class Cache:
    """What the last run read and wrote: per folder a signature (directory mtime and inode,
    mtime and size of each contract file read), its record and its rendered summary.csv line.
    One Arrow IPC file in the output folder, one row per folder: data only (a planted or
    damaged file can never run code, and is ignored with a note), and read back in tens of
    milliseconds where JSON of 20,000 records took half a second. Another results folder,
    dmsweep version or cache format starts afresh. In-progress (`.tmp-*`) folders are never
    cached."""

    results: Path
    param_keys: tuple[str, ...] = ()
    signatures: dict[str, tuple[str, int]] = field(default_factory=dict)
    records: pd.DataFrame = field(default_factory=lambda: _empty())
    csv_lines: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    """Why a cache file that exists was not used (one line), else None."""

    @classmethod
    def empty(cls, results: Path, note: str | None = None) -> Cache:
        return cls(Path(results), note=note)

    @classmethod
    def load(cls, path: Path, results: Path) -> Cache:
        """The cache at `path` if it was written for `results` by this version, else empty
        (with a note when a file was there but unusable)."""
        import pyarrow as pa

        try:
            with pa.memory_map(os.fspath(path)) as source:
                stored = pa.ipc.open_file(source).read_all()
            stored.validate(full=True)
        except FileNotFoundError:
            return cls.empty(results)
        except (OSError, pa.ArrowException) as err:
            return cls.empty(results, f"{path}: damaged cache ignored ({_reason(err)})")
        try:
            meta = json.loads((stored.schema.metadata or {}).get(_META_KEY, b"null"))
            if type(meta) is not dict or meta.get("format") != _CACHE_FORMAT:
                raise ValueError(f"not a cache of format {_CACHE_FORMAT}")
            if meta.get("version") != __version__:
                return cls.empty(results)  # another dmsweep: read everything again, quietly
            if meta.get("results") != os.fspath(Path(results).resolve()):
                return cls.empty(results)
            return _cache_from_arrow(Path(results), stored, meta)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as err:
            return cls.empty(results, f"{path}: damaged cache ignored ({_reason(err)})")

    @classmethod
    def of(cls, collection: Collection, csv_lines: dict[str, Any]) -> Cache:
        records = collection.records
        final = records[~in_progress(records)]
        return cls(
            collection.results, collection.param_keys, collection.signatures, final, csv_lines
        )

    def save(self, path: Path) -> None:
        import pyarrow as pa

        table = _cache_to_arrow(self)
        with (
            replacing(Path(path)) as tmp,
            pa.OSFile(os.fspath(tmp), "wb") as sink,
            pa.ipc.new_file(sink, table.schema) as writer,
        ):
            writer.write_table(table)


_ROW_KEY_SEP = "|"


def row_key(folder: str, signature: str, condor_values: Sequence[Any] = ()) -> str:
    """The key under which summary.csv caches a row's rendered line: it changes when the
    folder's files or its HTCondor values change (no folder name holds the separator)."""
    if not condor_values:  # a results folder without a run: no HTCondor values
        return f"{folder}{_ROW_KEY_SEP}{signature}"
    return _ROW_KEY_SEP.join([folder, signature, *map(str, condor_values)])


_META_KEY = b"dmsweep"
_FOLDER, _SIGNATURE, _MASK, _LINE_KEY, _LINE = (
    "__folder", "__signature", "__mask", "__line_key", "__line",
)  # fmt: skip
"""Cache columns beside the records' own: which folder, its signature, and its summary.csv
line under the row key that rendered it (null for folders without a summary row)."""


def _cache_to_arrow(cache: Cache) -> Any:
    """One row per cached folder; object columns (mixed types) as one JSON text per cell."""
    import pyarrow as pa

    records = cache.records
    names = records.index.tolist()
    lines = cache.csv_lines.get("lines", {})
    key_of = {key.partition(_ROW_KEY_SEP)[0]: key for key in lines}  # folder: its key
    keys = [key_of.get(name) for name in names]
    signatures = [cache.signatures.get(name, (_REREAD, 0)) for name in names]
    columns: dict[str, Any] = {
        _FOLDER: pa.array(names, pa.string()),
        _SIGNATURE: pa.array([s for s, _ in signatures], pa.string()),
        _MASK: pa.array([m for _, m in signatures], pa.int64()),
        _LINE_KEY: pa.array(keys, pa.string()),
        _LINE: pa.array([lines.get(k) if k else None for k in keys], pa.string()),
    }
    dtypes = [str(t) for t in records.dtypes]
    objects = {}  # mixed types (early_stopped: true, false or NaN): JSON, one text per column
    for i, dtype in enumerate(dtypes):
        values = records.iloc[:, i]
        if dtype == "object":
            objects[f"{i}"] = values.tolist()
        elif dtype == "str":  # pandas keeps these in Arrow already: no Python strings made
            columns[f"{i}"] = pa.array(values, pa.string(), from_pandas=True)
        else:
            columns[f"{i}"] = pa.array(values.to_numpy())
    meta = {
        "format": _CACHE_FORMAT,
        "version": __version__,
        "results": os.fspath(cache.results.resolve()),
        "param_keys": list(cache.param_keys),
        "columns": [str(c) for c in records.columns],
        "dtypes": dtypes,
        "objects": objects,
        "csv": {k: v for k, v in cache.csv_lines.items() if k != "lines"},
    }
    metadata = {_META_KEY: json.dumps(meta, default=_plain).encode()}
    return pa.table(columns).replace_schema_metadata(metadata)


def _cache_from_arrow(results: Path, stored: Any, meta: Mapping[str, Any]) -> Cache:
    columns, dtypes, objects = meta["columns"], meta["dtypes"], meta["objects"]
    n_objects = sum(dtype == "object" for dtype in dtypes)
    if len(columns) != len(dtypes) or stored.num_columns != len(columns) + 5 - n_objects:
        raise ValueError("records: columns and dtypes differ in length")
    names = [str(n) for n in _texts(stored, _FOLDER)]
    index = pd.Index(names, dtype=object)
    data = {}
    for i, (column, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        if dtype not in _CACHE_DTYPES:
            raise ValueError(f"records: column {column!r} has dtype {dtype!r}")
        if dtype == "object":
            values: Any = objects[f"{i}"]
            if type(values) is not list or len(values) != len(index):
                raise ValueError(f"records: column {column!r} has the wrong length")
        elif dtype == "str":  # Arrow text straight into pandas' Arrow-backed str
            values = pd.array(stored.column(f"{i}"), dtype="str")
        else:
            values = stored.column(f"{i}").to_numpy(zero_copy_only=False)
        data[str(column)] = pd.Series(values, index=index, dtype=dtype)
    records = pd.DataFrame(data, index=index) if columns else _empty()
    masks = stored.column(_MASK).to_pylist()
    signatures = {
        name: (str(sig), int(mask))
        for name, sig, mask in zip(names, _texts(stored, _SIGNATURE), masks, strict=True)
    }
    csv = meta["csv"]
    if type(csv) is not dict:
        raise ValueError("csv: not an object")
    lines = {
        str(key): str(line)
        for key, line in zip(_texts(stored, _LINE_KEY), _texts(stored, _LINE), strict=True)
        if key is not None and line is not None
    }
    csv_lines = {**csv, "lines": lines} if csv else {}
    if "columns" in csv_lines:
        csv_lines["columns"] = tuple(map(str, csv_lines["columns"]))
    return Cache(results, tuple(map(str, meta["param_keys"])), signatures, records, csv_lines)


def _texts(stored: Any, column: str) -> list[str | None]:
    import pyarrow as pa

    values = stored.column(column)
    if not pa.types.is_string(values.type):
        raise ValueError(f"column {column!r} is not text")
    return values.to_pylist()


_CACHE_DTYPES = frozenset(("object", "str", "float64", "int64", "bool"))
"""Column types a cache may hold (what `collect` builds); anything else is refused."""


def _plain(value: Any) -> Any:
    """NumPy scalars inside object columns, to plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split())[:120] or type(err).__name__


__all__ = [
    "CORRUPT",
    "DIVERGED",
    "DUPLICATE",
    "FAILED",
    "OK",
    "RUNNING",
    "SPLITS",
    "TRAINED",
    "Cache",
    "Collection",
    "collect",
    "in_progress",
    "mark_copies",
    "read_job_folder",
]
