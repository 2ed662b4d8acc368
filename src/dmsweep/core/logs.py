"""The stderr logs of a run folder's jobs (`logs/<batch>.<cluster>.err`, `<batch>.local.err`):
the last lines of a failed job's stderr say what error.json cannot (a crash, a kill, an
import error before the trainer ran), so status and failures.csv show them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TAIL_LINES = 3
TAIL_CHARS = 300
_READ_BYTES = 8192
"""Only the end of a log is read, however long the job wrote."""


def stderr_logs(logs: Path) -> dict[str, Path]:
    """batch_id -> its newest stderr log in `logs` (one scan of the folder)."""
    newest: dict[str, tuple[int, Path]] = {}
    try:
        entries = list(os.scandir(logs))
    except OSError:
        return {}
    for entry in entries:
        if not entry.name.endswith(".err") or "." not in entry.name[:-4]:
            continue
        batch = entry.name.split(".", 1)[0]
        try:
            mtime = entry.stat().st_mtime_ns
        except OSError:
            continue
        if batch not in newest or mtime > newest[batch][0]:
            newest[batch] = (mtime, Path(entry.path))
    return {batch: path for batch, (_, path) in newest.items()}


def tail(path: Path, lines: int = TAIL_LINES, limit: int = TAIL_CHARS) -> str:
    """The last `lines` non-empty lines of a log on one line (' | ' between), at most `limit`
    characters, the end kept; '' when the log is empty or unreadable."""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(0, stream.tell() - _READ_BYTES))
            text = stream.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    kept = [" ".join(line.split()) for line in text.splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined if len(joined) <= limit else "..." + joined[-(limit - 3) :]


def stderr_tails(logs: Path, batches: Mapping[str, str]) -> dict[str, str]:
    """job_id -> the tail of its batch's newest stderr log, for `batches` (job_id -> batch)."""
    found = stderr_logs(logs)
    cached: dict[str, str] = {}
    out = {}
    for job, batch in batches.items():
        if batch in found:
            if batch not in cached:
                cached[batch] = tail(found[batch])
            if cached[batch]:
                out[job] = cached[batch]
    return out
