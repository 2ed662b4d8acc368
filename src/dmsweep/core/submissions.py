"""submissions.json: every submission of a run, so that proc numbers map back to batches.

A JSON list, oldest first; each entry:

    {"cluster": 12, "time": "2026-11-21T10:00:00+00:00", "kind": "sweep",
     "batches": ["b000001", "b000002"],             # proc i ran batches[i]
     "trainings": {"b000001": ["cnn-0123456789ab", ...], ...},
     "requests": {"b000002": {"memory_mb": 4096, "disk_mb": 4096}}}

`kind` is "sweep" (the whole queue), "resubmit" (only trainings without results) or
"preflight" (batch "preflight", one epoch of a few trainings into preflight/). `trainings` lists
what each proc trains (a resubmitted batch holds only its missing trainings); `requests` the
memory and disk each proc asked for (resubmits may raise them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dmsweep.core.queuefile import QueueLine
from dmsweep.core.runfiles import RunPaths
from dmsweep.errors import DmsweepError


@dataclass(frozen=True)
class Submission:
    cluster: int
    time: str
    kind: str
    batches: tuple[str, ...]
    trainings: dict[str, list[str]] = field(default_factory=dict)
    requests: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, cluster: int, kind: str, lines: Sequence[QueueLine]) -> Submission:
        return cls(
            cluster=cluster,
            time=datetime.now(UTC).isoformat(timespec="seconds"),
            kind=kind,
            batches=tuple(line.batch_id for line in lines),
            trainings={line.batch_id: list(line.job_ids) for line in lines},
            requests={
                line.batch_id: {"memory_mb": line.memory_mb, "disk_mb": line.disk_mb}
                for line in lines
            },
        )

    def batch(self, proc: int) -> str | None:
        return self.batches[proc] if 0 <= proc < len(self.batches) else None


def read_submissions(paths: RunPaths) -> list[Submission]:
    try:
        raw = json.loads(paths.submissions.read_text())
    except FileNotFoundError:
        return []
    except ValueError as err:
        raise DmsweepError(f"{paths.submissions}: unreadable: {err}") from None
    return [_entry(item, paths) for item in raw]


def record_submission(paths: RunPaths, submission: Submission) -> None:
    """Append one submission (the file is rewritten atomically)."""
    entries = [asdict(s) for s in read_submissions(paths)] + [asdict(submission)]
    for entry in entries:
        entry["batches"] = list(entry["batches"])
    tmp = paths.submissions.with_name(f".{paths.submissions.name}.{os.getpid()}")
    tmp.write_text(json.dumps(entries, indent=1) + "\n")
    os.replace(tmp, paths.submissions)


def _entry(item: Any, paths: RunPaths) -> Submission:
    try:
        return Submission(
            cluster=int(item["cluster"]),
            time=str(item["time"]),
            kind=str(item.get("kind", "sweep")),
            batches=tuple(item["batches"]),
            trainings=dict(item.get("trainings", {})),
            requests=dict(item.get("requests", {})),
        )
    except (KeyError, TypeError, ValueError):
        raise DmsweepError(f"{paths.submissions}: malformed entry {item!r:.80}") from None
