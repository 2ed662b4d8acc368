"""Reading a run folder's jobs.csv (run_builder/joblist.py writes it): one reader for the run
builder, which refuses a damaged job list, and the aggregator, which only warns about it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from dmsweep.errors import DmsweepError

REQUIRED = ("job_id", "batch_id")


@dataclass(frozen=True)
class JobsTable:
    """The header and the well-formed rows (the first of each job id), and what was wrong with
    the rest: a reader decides whether `problems` are fatal."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    problems: tuple[str, ...]

    def batch_of(self) -> dict[str, str]:
        """job_id -> batch_id, in file order."""
        job, batch = self.header.index("job_id"), self.header.index("batch_id")
        return {row[job]: row[batch] for row in self.rows}


def read_jobs_csv(path: Path) -> JobsTable:
    """DmsweepError when the file cannot be read or its header lacks job_id or batch_id."""
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            lines = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DmsweepError(f"{path} not read: {err}") from None
    header = tuple(lines[0]) if lines else ()
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise DmsweepError(f"{path}: no {' or '.join(missing)} column in the header")
    width = len(header)
    bad = [number for number, row in enumerate(lines[1:], start=2) if row and len(row) != width]
    problems = []
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        problems.append(f"{path}: {len(bad)} rows with a wrong number of fields (lines {shown})")
    job = header.index("job_id")
    rows: dict[str, tuple[str, ...]] = {}
    for row in lines[1:]:
        if len(row) == width:
            rows.setdefault(row[job], tuple(row))
    if len(rows) < sum(len(row) == width for row in lines[1:]):
        problems.append(f"{path}: duplicated job ids; the first row of each is used")
    return JobsTable(header, tuple(rows.values()), tuple(problems))
