"""Where a job ran and from what: code version, libraries, host, HTCondor ids, granted CPUs.

Everything here answers "where did this result come from?" for provenance.json
(docs/job-contract.md), and reads the HTCondor job ad to size TensorFlow's thread pools.
No TensorFlow import: versions are read from package metadata.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import socket
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import dmsweep
from dmsweep.core.gitinfo import ENV_GIT_COMMIT, git_commit  # noqa: F401 (re-exported)

ENV_BATCH_ID = "DMSWEEP_BATCH_ID"
ENV_JOB_AD = "_CONDOR_JOB_AD"
LIBRARIES = ("tensorflow", "tf-keras", "spektral", "numpy", "scipy", "pandas")

_AD_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")


def now() -> str:
    """The current UTC time, ISO 8601 with offset, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_job_ad(path: Path | str | None = None) -> dict[str, str]:
    """The HTCondor job ad (`$_CONDOR_JOB_AD`) as attribute -> raw value; {} when absent.

    Values keep their ClassAd text except that string quotes are removed.
    """
    path = path if path is not None else os.environ.get(ENV_JOB_AD)
    if not path:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    ad = {}
    for line in text.splitlines():
        match = _AD_LINE.match(line)
        if match:
            key, value = match.groups()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            ad[key] = value
    return ad


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def condor_info(ad: dict[str, str] | None = None) -> dict[str, Any] | None:
    """{"cluster", "proc", "batch"} from the job ad and $DMSWEEP_BATCH_ID; None outside a batch."""
    ad = read_job_ad() if ad is None else ad
    batch = os.environ.get(ENV_BATCH_ID) or None
    if not ad and batch is None:
        return None
    return {
        "cluster": _int_or_none(ad.get("ClusterId")),
        "proc": _int_or_none(ad.get("ProcId")),
        "batch": batch,
    }


def granted_threads(override: int | None = None, ad: dict[str, str] | None = None) -> int | None:
    """Threads for TensorFlow: `override`, else the job ad's RequestCpus, else $OMP_NUM_THREADS.

    HTCondor sets OMP_NUM_THREADS to the CPUs it granted. None (outside a batch job): leave
    TensorFlow's defaults, which were the fastest on a whole machine (DESIGN.md).
    """
    if override is not None:
        return override
    ad = read_job_ad() if ad is None else ad
    for value in (ad.get("RequestCpus"), os.environ.get("OMP_NUM_THREADS")):
        n = _int_or_none(value)
        if n is not None and n >= 1:
            return n
    return None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask), for the record when threads is None."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def base_provenance(command: list[str] | None = None) -> dict[str, Any]:
    """The job-independent part of provenance.json (code, host, libraries, batch ids)."""
    commit, dirty = git_commit()
    return {
        "dmsweep_version": dmsweep.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "command": list(sys.argv if command is None else command),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "condor": condor_info(),
    }
