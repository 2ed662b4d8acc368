"""queue.txt: one line per HTCondor job, the item data of the submit file's one `queue ... from`.

A line holds the variables `QUEUE_VARS`, separated by single spaces:

    b000001 1 2048 4096 0 0 H4sIAAAAAAAC/6tWKkpNzy...

batch id, cpus, memory (MB), disk (MB), gpus, requirements class (an index into the submit
file's `REQ_<i>` macros) and the batch's configs: gzip (mtime 0) of compact JSON lines, then
base64. That alphabet ([A-Za-z0-9+/=]) cannot break the submit file or the job wrapper's
command line, whatever spaces, quotes or `$(`/`;` a config value holds.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dmsweep.errors import ConfigError, DmsweepError

QUEUE_VARS: tuple[str, ...] = ("batch_id", "cpus", "memory_mb", "disk_mb", "gpus", "req", "configs")
MAX_LINE = 60_000
"""HTCondor's submit parser refuses item lines somewhat above 64 KB; stay below."""
_BATCH_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class QueueLine:
    """One HTCondor job: its requests and the flat configs it trains, in order."""

    batch_id: str
    cpus: int
    memory_mb: int
    disk_mb: int
    gpus: int
    req: int
    configs: tuple[Mapping[str, Any], ...]

    @property
    def job_ids(self) -> tuple[str, ...]:
        return tuple(str(c["job_id"]) for c in self.configs)

    def encode(self) -> str:
        configs = encode_configs(self.configs)
        return format_line(
            self.batch_id, self.cpus, self.memory_mb, self.disk_mb, self.gpus, self.req, configs
        )

    def itemdata(self) -> dict[str, str]:
        """The queue variables as `htcondor2.Schedd.submit(itemdata=...)` takes them."""
        return dict(zip(QUEUE_VARS, self.encode().split(" "), strict=True))

    def with_configs(self, configs: Sequence[Mapping[str, Any]]) -> QueueLine:
        return replace(self, configs=tuple(configs))

    def scaled(self, *, memory: float = 1.0, disk: float = 1.0) -> QueueLine:
        return replace(
            self, memory_mb=int(self.memory_mb * memory), disk_mb=int(self.disk_mb * disk)
        )

    @classmethod
    def decode(cls, line: str, *, where: str = "queue.txt") -> QueueLine:
        fields = line.split()
        if len(fields) != len(QUEUE_VARS):
            raise DmsweepError(f"{where}: expected {len(QUEUE_VARS)} fields {QUEUE_VARS}")
        batch_id, *numbers, configs = fields
        try:
            cpus, memory_mb, disk_mb, gpus, req = (int(n) for n in numbers)
        except ValueError:
            raise DmsweepError(f"{where}: batch {batch_id}: non-integer request") from None
        return cls(batch_id, cpus, memory_mb, disk_mb, gpus, req, tuple(decode_configs(configs)))


def format_line(
    batch_id: str, cpus: int, memory_mb: int, disk_mb: int, gpus: int, req: int, configs: str
) -> str:
    """One queue line from its fields (`configs` already encoded); refuses what HTCondor or
    the wrapper could misread."""
    if not _BATCH_ID.fullmatch(batch_id):
        raise ConfigError(f"batch id {batch_id!r}: expected letters, digits, _ . -")
    line = (
        f"{batch_id} {int(cpus)} {int(memory_mb)} {int(disk_mb)} {int(gpus)} {int(req)} {configs}"
    )
    if len(line) > MAX_LINE:
        raise ConfigError(
            f"batch {batch_id}: its configs encode to {len(line):,} characters, more than "
            f"HTCondor takes on one queue line ({MAX_LINE:,}): lower trainings_per_job"
        )
    return line


def encode_configs(configs: Iterable[Mapping[str, Any]]) -> str:
    return encode_json_lines(json.dumps(c, sort_keys=True, separators=(",", ":")) for c in configs)


def encode_json_lines(lines: Iterable[str]) -> str:
    """gzip (mtime 0: deterministic) of the JSON lines, then base64. Level 6, zlib's default:
    as small as level 9 on config lines (350 bytes for ten) and a third faster."""
    text = "".join(line + "\n" for line in lines)
    packed = gzip.compress(text.encode(), compresslevel=6, mtime=0)
    return base64.b64encode(packed).decode("ascii")


def decode_configs(encoded: str) -> list[dict[str, Any]]:
    text = gzip.decompress(base64.b64decode(encoded, validate=True)).decode()
    return [json.loads(line) for line in text.splitlines() if line]


def read_queue(path: Path) -> list[QueueLine]:
    with open(path, encoding="ascii") as stream:
        return [
            QueueLine.decode(text, where=f"{path}, line {number}")
            for number, text in enumerate(stream, start=1)
            if text.strip()
        ]
