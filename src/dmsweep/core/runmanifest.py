"""A run folder's manifest.json as one typed record: what was built, from which spec, code and
data, and the environment the jobs use. The builder writes it; run-local, submit, status and
the tests read it back through `RunManifest.read`, which checks every field's type, so a
damaged or hand-edited manifest is one clear error, never a KeyError deep inside a command.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from dmsweep.errors import DmsweepError

FORMAT = 1
"""Bump when a field changes meaning; readers refuse a format they do not know."""


@dataclass(frozen=True)
class EnvRef:
    """A prepared job environment (run_builder/environments.py makes it), as the manifest and
    the templates see it."""

    strategy: str
    python: str = "python3"
    """The interpreter the wrapper runs: a path inside the unpacked tarball, an absolute path
    for `shared`, a command name otherwise."""
    python_version: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    files: tuple[str, ...] = ()
    """Run-folder paths the job needs in its scratch folder (transferred by HTCondor)."""
    image: str | None = None
    key: str | None = None
    cache_path: str | None = None
    size_bytes: int = 0
    link: str = "none"
    """How `files` reference the cache: hardlink, symlink or none."""
    sha256: str | None = None
    """Checksum of the environment file, recorded at build time; the wrapper checks it before
    unpacking."""
    packages: dict[str, str] = field(default_factory=dict)
    staged: str | None = None
    """Where the environment file is staged (`environment.staging` + its name): an https://,
    http:// or osdf:// URL that HTCondor fetches into the job's scratch folder, or a path
    the wrapper reads in place. None: the file travels from the submit node with every job."""

    @property
    def file_name(self) -> str | None:
        return Path(self.files[0]).name if self.files else None

    @property
    def staged_path(self) -> str | None:
        """The staged file when it is a shared path (read in place, never transferred)."""
        return self.staged if self.staged is not None and self.staged.startswith("/") else None

    def transfer_inputs(self) -> tuple[str, ...]:
        """What HTCondor transfers into the scratch folder for the environment: the run
        folder's file, the staged URL instead, or nothing for a file on a shared path."""
        if self.staged is None:
            return self.files
        return () if self.staged_path else (self.staged,)


@dataclass(frozen=True)
class DatabaseRef:
    """The collection a sweep over a database dataset reads, as the build saw it: jobs
    connect to `db` (no secrets in it) and refuse content other than `checksum`."""

    db: str
    collection: str
    documents: int
    checksum: str


@dataclass(frozen=True)
class RunManifest:
    name: str
    created: str
    """Local time of the build, ISO 8601 with offset (created_utc: the same in UTC)."""
    created_utc: str
    version: str
    """dmsweep's version; git_commit / git_dirty: the checkout it was built from, if any."""
    git_commit: str | None
    git_dirty: bool | None
    spec_file: str
    spec_path: str
    description: str
    trainings: int
    reused: int
    """Trainings linked from earlier runs (--reuse-results), not queued."""
    queued: int
    batches: int
    models: dict[str, int]
    """Model type -> trainings."""
    preflight: bool
    python: str
    environment: EnvRef
    data: dict[str, str]
    """Run-folder path of every data file -> its sha256."""
    requirement_classes: tuple[str, ...]
    queue_vars: tuple[str, ...]
    max_idle: int | None
    max_materialize: int | None
    reused_from: tuple[str, ...]
    gpus_minimum_capability: tuple[float | None, ...] = ()
    gpus_minimum_memory: tuple[int | None, ...] = ()
    """Per requirement class (aligned with `requirement_classes`; empty in run folders of
    earlier versions): the least compute capability and memory (MB) of a granted GPU."""
    gpu_environment: EnvRef | None = None
    """The environment of batches asking for GPUs (`environment.gpu`); None: one environment."""
    requirement_environments: tuple[str, ...] = ()
    """Per requirement class: "gpu" (its batches run in `gpu_environment`) or "cpu"; empty in
    run folders of earlier versions (every batch runs in `environment`)."""
    database: DatabaseRef | None = None
    """The collection of a database dataset (None: the data is in `data/`)."""
    format: int = FORMAT

    def environment_for(self, req: int) -> EnvRef:
        """The environment the batches of requirement class `req` unpack and run in."""
        gpu = req < len(self.requirement_environments) and self.requirement_environments[req]
        if gpu == "gpu" and self.gpu_environment is not None:
            return self.gpu_environment
        return self.environment

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> RunManifest:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise DmsweepError(f"{path}: unreadable manifest: {err}") from None
        if not isinstance(raw, dict):
            raise DmsweepError(f"{path}: expected a JSON object, got {type(raw).__name__}")
        if raw.get("format", FORMAT) != FORMAT:
            raise DmsweepError(
                f"{path}: format {raw.get('format')!r}: this dmsweep reads format {FORMAT}; "
                "build the run folder again with this version"
            )
        return _record(cls, raw, str(path))


def _record(kind: type, raw: dict[str, Any], where: str) -> Any:
    """`kind` (a dataclass) from a JSON object, every field checked against its type hint."""
    hints = typing.get_type_hints(kind)
    values = {}
    for spec in fields(kind):
        if spec.name not in raw:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise DmsweepError(f"{where}: {spec.name}: missing")
            continue
        values[spec.name] = _value(raw[spec.name], hints[spec.name], f"{where}: {spec.name}")
    return kind(**values)


def _value(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(value, inner, where)
    if hint in (EnvRef, DatabaseRef):
        if not isinstance(value, dict):
            raise DmsweepError(f"{where}: expected an object, got {value!r:.60}")
        return _record(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise DmsweepError(f"{where}: expected a list, got {value!r:.60}")
        return tuple(_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise DmsweepError(f"{where}: expected an object, got {value!r:.60}")
        return {str(k): _value(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is int and (type(value) is not int):
        raise DmsweepError(f"{where}: expected an integer, got {value!r:.60}")
    if hint is bool and type(value) is not bool:
        raise DmsweepError(f"{where}: expected true or false, got {value!r:.60}")
    if hint is str and not isinstance(value, str):
        raise DmsweepError(f"{where}: expected a string, got {value!r:.60}")
    return value
