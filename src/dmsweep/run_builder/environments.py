"""How a job gets its Python: one small interface, four strategies, one registry.

Each strategy prepares what the job needs once, at build time, and says how the job wrapper
finds its interpreter (`EnvRef`); the wrapper's shell fragment for it is the template
`templates/env/<strategy>.sh.j2`.

- `tarball`: a relocatable copy of this machine's Python (interpreter, stdlib, the shared
  libraries its extension modules need, and the site-packages a *job* needs: `JOB_PACKAGES`
  and their dependencies), rpath patched to `$ORIGIN/../lib`, tarred and compressed. Needs a
  glibc on the execute node at least as new as this machine's.
- `wheelhouse`: the same packages as wheels (plus pip); the job installs them into its scratch
  folder with the node's own `python3.X` (same minor version as this machine's).
- `container`: only an image reference (`universe = container`); the image brings Python.
- `shared`: this machine's interpreter in place, for pools that share its filesystem (the
  personal pool): nothing to build or transfer, for tests and demos.

`cuda: true` (tarball, wheelhouse) adds TensorFlow's `and-cuda` extra (the nvidia-* wheels,
fetched by pip at build time); `environment.gpu` is a second environment for batches asking
for GPUs, prepared by the caller with the same strategies.

Tarballs and wheelhouses are built once per content key (Python version and build, the exact
package versions, this module's format version) into `<cache>/envs/` (`DMSWEEP_CACHE_DIR`,
default `~/.cache/dmsweep`) and hard linked (else symlinked) into run folders: never copied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Protocol

from dmsweep.core.files import write_atomic
from dmsweep.core.runmanifest import EnvRef
from dmsweep.errors import ConfigError, DmsweepError
from dmsweep.run_builder.escaping import refuse_control
from dmsweep.run_builder.spec import (
    ENV_STRATEGIES,
    STAGED_STRATEGIES,
    EnvironmentSpec,
    Resources,
)

JOB_PACKAGES: tuple[str, ...] = (
    "tensorflow",
    "tf-keras",
    "spektral",
    "numpy",
    "pandas",
    "scipy",
    "biopython",
    "pyyaml",
    "transformers",
    "p-scldata",
)
"""What a training job imports (p-scldata: the packaged SCL2205 protein set a card reads);
the environment holds these and their dependencies only."""
JOB_IMPORTS: tuple[str, ...] = (
    "dmsweep._tf",
    "tensorflow",
    "tf_keras",
    "spektral",
    "numpy",
    "pandas",
    "scipy",
    "Bio",
    "yaml",
    "transformers",
    "dmsweep.train",
)
"""Modules the preflight job imports to prove the environment works; `dmsweep._tf` first, which
refuses Keras 3 behind `tf.keras` (jobs run the Keras 2 that spektral and saved models need)."""
NEVER_IN_JOB_ENV = frozenset({"matplotlib", "seaborn", "pyarrow", "htcondor", "jupyter", "jinja2"})
"""Submit-side packages: refused even when some job package would pull them in."""
SKIPPED_FILES = ("tensorflow/include/",)
"""Build-time-only parts of site-packages (C++ headers, 220 MB) left out of a tarball."""
SKIPPED_FOLDERS = ("tests",)
"""Packages' own test suites (pandas, scipy, numpy ship hundreds of MB): no job imports them."""
FORMAT_VERSION = 2
"""Bump when the layout of a built environment changes, so cached ones are rebuilt."""
COMPRESSION = os.environ.get("DMSWEEP_ENV_COMPRESSION", "zstd")
"""`zstd` (default: unpacks about 3x faster than gzip, see docs/run-builder.md) or `gzip`."""
GLIBC_LIBS = re.compile(
    r"^(linux-vdso|ld-linux[-\w]*|lib(c|m|dl|rt|pthread|util|resolv|anl|nsl)\.so)"
)
"""Libraries that come with glibc on every node: never bundled."""
LEFT_OUT_STDLIB = ("site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip")


class Strategy(Protocol):
    name: ClassVar[str]

    def prepare(self, spec: EnvironmentSpec, env_dir: Path, *, cache_dir: Path) -> EnvRef:
        """Build (or find in the cache) what the job needs and reference it from `env_dir`."""
        ...


def prepare_environment(
    spec: EnvironmentSpec, env_dir: Path, *, cache_dir: Path | None = None
) -> EnvRef:
    """Prepare `spec`'s environment for a run folder whose environment folder is `env_dir`
    (`spec.gpu`, if any, is prepared by the caller: only when some batch asks for GPUs)."""
    try:
        strategy = STRATEGIES[spec.strategy]
    except KeyError:
        raise ConfigError(
            f"environment: strategy: expected one of {list(STRATEGIES)}, got {spec.strategy!r}"
        ) from None
    ref = strategy.prepare(spec, env_dir, cache_dir=cache_dir or default_env_cache())
    if spec.staging is not None and ref.file_name is not None:
        ref = dataclasses.replace(ref, staged=f"{spec.staging}/{ref.file_name}")
    return ref


CUDA_EXTRA = "and-cuda"
"""TensorFlow's extra that adds the NVIDIA CUDA and cuDNN wheels (`environment.cuda: true`)."""
CUDA_BYTES: dict[str, int] = {"2.21": 2_417_301_126}
"""Bytes the `and-cuda` wheels add to a zstd tarball, per TensorFlow minor version: an estimate
for `--dry-run` before the CUDA environment is built (nothing is downloaded then). Measured
here once by building it: TF 2.21.0, Python 3.11, CUDA 12.9 / cuDNN 9.28 wheels, 3,029,112,579
bytes with CUDA - 611,811,453 without (docs/run-builder.md#gpu-environments). Another
TensorFlow version uses the newest figure."""

CUDA_MIN_DISK_MB = 8000
"""The least `disk_mb` `--dry-run` accepts silently for a job unpacking a CUDA environment (the
measured TF 2.21 tarball unpacks to 6.51 GB, plus data and results)."""

ESTIMATED_RATIO = 0.25
"""Environment file size / installed size of the job distributions, for `--dry-run` before the
file is built (measured here: 2.49 GB of job distributions make a 612 MB zstd tarball, with the
interpreter and its stdlib; a wheelhouse is of the same order)."""


@dataclasses.dataclass(frozen=True)
class EnvSize:
    """What `--dry-run` says of the environment file before building anything."""

    strategy: str
    file_name: str | None
    size_bytes: int
    exact: bool
    """True: the file is in the cache (its size); False: estimated from the installed size."""


def environment_size(spec: EnvironmentSpec, *, cache_dir: Path | None = None) -> EnvSize:
    """The size of the file the spec's strategy transfers (0 for container and shared)."""
    strategy = STRATEGIES.get(spec.strategy)
    if not isinstance(strategy, Tarball | Wheelhouse):
        return EnvSize(spec.strategy, None, 0, True)
    cache_dir = cache_dir or default_env_cache()
    _, _, name = _cached_artifact(strategy, spec, cache_dir)
    cached = cache_dir / name
    if cached.is_file():
        return EnvSize(spec.strategy, name, cached.stat().st_size, True)
    installed = sum(_installed_bytes(d) for d in job_distributions())
    extra = cuda_bytes_estimate() if spec.cuda else 0
    return EnvSize(spec.strategy, name, round(installed * ESTIMATED_RATIO) + extra, False)


def cuda_bytes_estimate(tf_version: str | None = None) -> int:
    """`CUDA_BYTES` for this TensorFlow's minor version (else the newest figure)."""
    version = tf_version or metadata.version("tensorflow")
    minor = ".".join(version.split(".")[:2])
    return CUDA_BYTES.get(minor, CUDA_BYTES[max(CUDA_BYTES, key=_version_tuple)])


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def cuda_requirements() -> tuple[str, ...]:
    """The requirements TensorFlow's `and-cuda` extra adds, as the installed TensorFlow's
    metadata declares them (version ranges of the nvidia-* wheels): read, never downloaded, so
    the content key of a CUDA environment is known before it is built."""
    from packaging.requirements import Requirement

    dist = metadata.distribution("tensorflow")
    found = []
    for text in dist.metadata.get_all("Requires-Dist") or ():
        req = Requirement(text)
        marker = req.marker
        if marker is None or marker.evaluate({"extra": ""}):
            continue
        if marker.evaluate({"extra": CUDA_EXTRA}):
            found.append(f"{req.name}{req.specifier}")
    if not found:
        raise DmsweepError(
            f"environment: cuda: tensorflow {dist.version} declares no {CUDA_EXTRA!r} extra "
            "for this platform (Linux x86_64 only)"
        )
    return tuple(sorted(found))


def _installed_bytes(dist: metadata.Distribution) -> int:
    root = Path(str(dist.locate_file("")))
    total = 0
    for rel in dist.files or ():
        with contextlib.suppress(OSError):
            total += (root / rel.as_posix()).stat().st_size
    return total


def environment_lines(
    spec: EnvironmentSpec, batches: Sequence[Resources], *, cache_dir: Path | None = None
) -> list[str]:
    """`--dry-run`'s environment section for the plan's batches (their requests): per
    environment used (the CPU one, and `environment.gpu` for batches asking for GPUs) its size
    and transfer per job and in all; warnings when GPU batches would run without CUDA
    libraries or ask for less disk than a CUDA environment unpacks to."""
    gpu_batches = [b for b in batches if b.gpus > 0]
    n_gpu = len(gpu_batches) if spec.gpu is not None else 0
    used: list[tuple[str, EnvironmentSpec, int]] = []
    if len(batches) > n_gpu or not n_gpu:  # the CPU environment, unless every job is a GPU job
        used.append(("environment", spec, len(batches) - n_gpu))
    if n_gpu and spec.gpu is not None:
        used.append(("environment.gpu", spec.gpu, n_gpu))
    lines: list[str] = []
    total = 0
    for label, env, n_jobs in used:
        size = environment_size(env, cache_dir=cache_dir)
        lines += transfer_lines(env, n_jobs, size, label=label)
        total += size.size_bytes * n_jobs
    if n_gpu:
        lines.append(f"environments in all: {_size(total)} for {len(batches):,} jobs")
    return lines + _gpu_warnings(spec, gpu_batches)


def _gpu_warnings(spec: EnvironmentSpec, gpu_batches: Sequence[Resources]) -> list[str]:
    env = spec.for_gpus(1)
    if not gpu_batches:
        return []
    if not env.cuda and env.strategy in STAGED_STRATEGIES:
        return [
            f"warning: {len(gpu_batches):,} jobs ask for GPUs but get the {env.strategy} "
            "environment without CUDA libraries (TensorFlow would train on the CPU): add "
            "environment.gpu, e.g. {strategy: tarball, cuda: true}"
        ]
    small = [b for b in gpu_batches if env.cuda and b.disk_mb < CUDA_MIN_DISK_MB]
    if small:
        return [
            f"warning: {len(small):,} GPU jobs ask for less than {CUDA_MIN_DISK_MB} MB of disk "
            f"(disk_mb {min(b.disk_mb for b in small)}): the CUDA environment unpacks to "
            "about 6.5 GB in the scratch folder"
        ]
    return []


def transfer_lines(
    spec: EnvironmentSpec, n_jobs: int, size: EnvSize, *, label: str = "environment"
) -> list[str]:
    """`--dry-run`'s bytes of environment transferred per job and in all, for each choice."""
    if size.file_name is None:
        what = (
            "the image is pulled by each execute node"
            if spec.strategy == "container"
            else ("this machine's interpreter, used in place")
        )
        image = f" {spec.image}" if spec.image else ""
        return [f"{label}: {spec.strategy}{image} ({what}): nothing transferred"]
    known = "in the cache" if size.exact else "estimated: not built yet"
    if spec.cuda and not size.exact:
        known += f"; CUDA wheels {_size(cuda_bytes_estimate())} of it, measured once"
    per, total = _size(size.size_bytes), _size(size.size_bytes * n_jobs)
    chosen = (
        "submit node"
        if spec.staging is None
        else ("shared path" if spec.staging.startswith("/") else "URL")
    )
    rows = [
        ("submit node", f"{per} per job, {total} for {n_jobs:,} jobs, all from the submit node"),
        (
            "URL",
            f"0 B from the submit node; {per} per job, {total} in all from the staging "
            "server (https:// or osdf://; caches may serve repeats)",
        ),
        ("shared path", "0 B: each job reads the file in place"),
    ]
    lines = [f"{label}: {spec.strategy}, {size.file_name}, {_size(size.size_bytes)} ({known})"]
    for name, text in rows:
        mark = "*" if name == chosen else " "
        lines.append(f" {mark} {name:<12} {text}")
    lines.append(f"   (* this spec; {label}.staging: URL or /path chooses another)")
    return lines


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.1f} GB" if n < 1000 else f"{n / 1000:.1f} TB"


def upload_command(ref: EnvRef, run_dir: Path) -> str | None:
    """The one command that puts a staged environment file where the pool fetches it (None
    when the environment is not staged). https/http: an HTTP PUT (a WebDAV-style server,
    e.g. a web staging area); osdf: the Pelican client; a shared path: cp."""
    if ref.staged is None or not ref.files:
        return None
    source = shlex.quote(str(run_dir / ref.files[0]))
    target = shlex.quote(ref.staged)
    if ref.staged.startswith("osdf://"):
        return f"pelican object put {source} {target}"
    if ref.staged.startswith(("https://", "http://")):
        return f"curl --fail --upload-file {source} {target}"
    return f"cp {source} {target}"


def default_env_cache() -> Path:
    """`envs/` in dmsweep's cache ($DMSWEEP_CACHE_DIR, else ~/.cache/dmsweep), beside data."""
    from dmsweep.data import default_cache_dir

    return default_cache_dir() / "envs"


class Tarball:
    name: ClassVar[str] = "tarball"

    @staticmethod
    def packages(cache_dir: Path, *, walk: bool = False) -> dict[str, str]:
        return job_packages(cache_dir, walk=walk)

    def file_name(self, packages: dict[str, str], *, cuda: bool = False) -> tuple[str, str]:
        """(content key, file name) of the tarball of these packages (name -> version; with
        `cuda`: plus TensorFlow's and-cuda wheels, `-cuda-` in the name)."""
        key = _content_key(self.name, _with_cuda(packages, cuda), extra=COMPRESSION)
        suffix = ".tar.zst" if COMPRESSION == "zstd" else ".tar.gz"
        return key, f"python{_py_version()}-{'cuda-' if cuda else ''}{key}{suffix}"

    def prepare(self, spec: EnvironmentSpec, env_dir: Path, *, cache_dir: Path) -> EnvRef:
        packages, key, name = _cached_artifact(self, spec, cache_dir)
        cuda = cuda_requirements() if spec.cuda else ()
        return _artifact(
            self.name,
            name,
            lambda out: _build_tarball(out, job_distributions(), cuda),
            key=key,
            packages=_with_cuda(packages, spec.cuda),
            python="python/bin/python3",
            env_dir=env_dir,
            cache_dir=cache_dir,
        )


class Wheelhouse:
    name: ClassVar[str] = "wheelhouse"

    @staticmethod
    def packages(cache_dir: Path, *, walk: bool = False) -> dict[str, str]:
        """The job packages plus pip, which installs them on the node."""
        return job_packages(cache_dir, walk=walk) | {"pip": metadata.version("pip")}

    def file_name(self, packages: dict[str, str], *, cuda: bool = False) -> tuple[str, str]:
        """(content key, file name) of the wheelhouse of these packages (`packages()`)."""
        key = _content_key(self.name, _with_cuda(packages, cuda))
        return key, f"wheelhouse-py{_py_version()}-{'cuda-' if cuda else ''}{key}.tar"

    def prepare(self, spec: EnvironmentSpec, env_dir: Path, *, cache_dir: Path) -> EnvRef:
        packages, key, name = _cached_artifact(self, spec, cache_dir)
        cuda = cuda_requirements() if spec.cuda else ()
        return _artifact(
            self.name,
            name,
            lambda out: _build_wheelhouse(out, packages, cuda),
            key=key,
            packages=_with_cuda(packages, spec.cuda),
            python=f"python{_py_version()}",
            env_dir=env_dir,
            cache_dir=cache_dir,
        )


def _cached_artifact(
    strategy: Tarball | Wheelhouse, spec: EnvironmentSpec, cache_dir: Path
) -> tuple[dict[str, str], str, str]:
    """(packages, content key, file name): the file the recorded walk names when the cache
    holds it, else that of a fresh walk (which the file is then built from)."""
    packages = strategy.packages(cache_dir)
    key, name = strategy.file_name(packages, cuda=spec.cuda)
    if not (cache_dir / name).is_file():
        packages = strategy.packages(cache_dir, walk=True)
        key, name = strategy.file_name(packages, cuda=spec.cuda)
    return packages, key, name


def _with_cuda(packages: dict[str, str], cuda: bool) -> dict[str, str]:
    """`packages` plus, for a CUDA environment, `tensorflow[and-cuda]` -> its requirements
    (part of the content key: another TensorFlow's and-cuda ranges make another file)."""
    if not cuda:
        return packages
    return packages | {f"tensorflow[{CUDA_EXTRA}]": "; ".join(cuda_requirements())}


def _artifact(
    strategy: str,
    name: str,
    build: Callable[[Path], None],
    *,
    key: str,
    packages: dict[str, str],
    python: str,
    env_dir: Path,
    cache_dir: Path,
) -> EnvRef:
    """Build `name` into the cache once, link it into the run folder's `env_dir`."""
    cached = _cached(cache_dir / name, build)
    return EnvRef(
        strategy=strategy,
        python=python,
        files=(f"{env_dir.name}/{name}",),
        key=key,
        cache_path=str(cached),
        size_bytes=cached.stat().st_size,
        link=_link(cached, env_dir / name),
        packages=packages,
        sha256=file_sha256(cached),
    )


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per cached file and kept beside it (`<name>.sha256`)."""
    sidecar = path.with_name(path.name + ".sha256")
    stat = path.stat()
    stamp = f"{stat.st_size} {stat.st_mtime_ns}"
    with contextlib.suppress(OSError, ValueError):
        digest, recorded = sidecar.read_text().split(" ", 1)
        if recorded.strip() == stamp and re.fullmatch(r"[0-9a-f]{64}", digest):
            return digest
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            sha.update(chunk)
    digest = sha.hexdigest()
    with contextlib.suppress(OSError):
        sidecar.write_text(f"{digest} {stamp}\n")
    return digest


class Container:
    name: ClassVar[str] = "container"

    def prepare(self, spec: EnvironmentSpec, env_dir: Path, *, cache_dir: Path) -> EnvRef:
        if not spec.image:
            raise ConfigError("environment: strategy container needs an image (e.g. docker://...)")
        image = refuse_control(spec.image, "environment.image")
        return EnvRef(strategy=self.name, python="python3", image=image)


class Shared:
    name: ClassVar[str] = "shared"

    def prepare(self, spec: EnvironmentSpec, env_dir: Path, *, cache_dir: Path) -> EnvRef:
        # sys.executable of a venv is its bin/python symlink: keep it (resolving it would
        # leave the venv's site-packages behind)
        python = refuse_control(os.path.abspath(sys.executable), "shared environment's python")
        return EnvRef(strategy=self.name, python=python)


STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (Tarball(), Wheelhouse(), Container(), Shared())
}
assert set(STRATEGIES) == set(ENV_STRATEGIES), "spec.ENV_STRATEGIES and the registry disagree"


SETTLE_SECONDS = 2.0
"""A folder changed more recently than this is not trusted to show its next change."""


def packages_record(cache_dir: Path) -> Path:
    """Where `job_packages` keeps the last walk of this installation (one file per Python
    prefix: several venvs share a cache)."""
    prefix = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    return cache_dir / f"job-packages-{prefix}.json"


def job_packages(cache_dir: Path, *, walk: bool = False) -> dict[str, str]:
    """name -> version of `job_distributions()`, from the last walk's record in `cache_dir`
    while the installation looks as it did then (`walk`: walk anyway, and renew the record).

    The walk (57 METADATA files read, their requirements parsed) was a tenth of a build that
    found its tarball cached. pip adds and removes a `*.dist-info` folder for every install,
    upgrade and removal, which changes the mtime of the folder holding it; so the record
    holds, from before the walk, sys.path and the mtime of each of its folders, and is used
    while they are the same. Folders changed within the last two seconds are not trusted to
    show the next change (a coarse clock, a pip still running): no record is kept then
    (`SETTLE_SECONDS`).
    The record only names a file to look up in the cache (`_cached_artifact`): what is built
    comes from a fresh walk, never from it."""
    record = packages_record(cache_dir)
    signature = _installed_signature()
    if not walk:
        recorded = _read_record(record)
        if recorded is not None and recorded.get("signature") == signature:
            return recorded["packages"]
    packages = {_dist_name(d): _dist_version(d) for d in job_distributions()}
    settled = time.time_ns() - int(SETTLE_SECONDS * 1e9)
    if all(mtime < settled for _folder, mtime in signature["folders"]):
        text = json.dumps({"signature": signature, "packages": packages}, indent=1)
        with contextlib.suppress(OSError):  # a read-only cache only costs the walk next time
            cache_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(record, text)
    return packages


def _installed_signature() -> dict[str, Any]:
    """What the walk's result depends on, as JSON would read it back (lists, not tuples)."""
    folders = [[p, os.stat(p).st_mtime_ns] for p in sys.path if p and os.path.isdir(p)]
    return {
        "format": FORMAT_VERSION,
        "python": sys.version,
        "prefix": sys.prefix,
        "roots": list(JOB_PACKAGES),
        "folders": folders,
    }


_PACKAGE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_PACKAGE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")


def _read_record(path: Path) -> dict[str, Any] | None:
    """The record if it is one (a JSON object whose packages are names and versions), else
    None: a damaged or planted file only costs a walk."""
    try:
        with open(path, "rb") as stream:
            data = json.loads(stream.read(1 << 20))
    except (OSError, ValueError, RecursionError):
        return None
    packages = data.get("packages") if type(data) is dict else None
    if type(packages) is not dict or not all(
        type(k) is str and type(v) is str and _PACKAGE_NAME.fullmatch(k)
        and _PACKAGE_VERSION.fullmatch(v)
        for k, v in packages.items()
    ):  # fmt: skip
        return None
    return data


def job_distributions(roots: tuple[str, ...] = JOB_PACKAGES) -> list[metadata.Distribution]:
    """The installed distributions of `roots` and everything they require (markers evaluated
    for this machine, no extras), sorted by name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    todo = [(name, "job packages") for name in roots]
    while todo:
        name, wanted_by = todo.pop()
        key = canonicalize_name(name)
        if key in found:
            continue
        if key in NEVER_IN_JOB_ENV:
            raise DmsweepError(f"environment: {wanted_by} requires {name}, a submit-side package")
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise DmsweepError(
                f"environment: {name} (required by {wanted_by}) is not installed in "
                f"{sys.prefix}; install the project there first (make install)"
            ) from None
        found[key] = dist
        headers = _headers(dist)
        # egg-info requirements (requires.txt) as the fallback
        requires = headers.get("Requires-Dist") or dist.requires or ()
        for text in requires:
            if _EXTRA_ONLY.search(text):
                continue  # `; extra == "x"`: never wanted without extras
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append((req.name, _dist_name(dist)))
    return [found[k] for k in sorted(found)]


_EXTRA_ONLY = re.compile(r';\s*extra\s*==\s*[\'"][^\'"]*[\'"]\s*$')
"""A requirement whose whole marker is one `extra == "..."` test (most of them): skipped
without parsing, since the walk installs no extras."""


_HEADERS: dict[str, dict[str, list[str]]] = {}


def _headers(dist: metadata.Distribution) -> dict[str, list[str]]:
    """The header fields of the distribution's METADATA (PKG-INFO for egg-info), read and
    parsed once per process. `dist.metadata` runs the email parser on every access (and
    `dist.version`, `dist.name` access it): that took most of a build's second."""
    where = str(getattr(dist, "_path", id(dist)))
    found = _HEADERS.get(where)
    if found is None:
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        found = _HEADERS[where] = _parse_headers(text)
    return found


def _parse_headers(text: str) -> dict[str, list[str]]:
    """RFC 822 header fields (name -> values in order) up to the first empty line; a line
    starting with whitespace continues the field before it (a line of only whitespace too)."""
    fields: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in text.splitlines():
        if not line:  # a line of only spaces continues a field (as the email parser reads it)
            break
        if line[0] in " \t":
            if last:
                last[-1] += " " + line.strip()
            continue
        name, _, value = line.partition(":")
        last = fields.setdefault(name.strip(), [])
        last.append(value.strip())
    return fields


def _dist_name(dist: metadata.Distribution) -> str:
    return _headers(dist)["Name"][0]


def _dist_version(dist: metadata.Distribution) -> str:
    return _headers(dist)["Version"][0]


def _py_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _content_key(strategy: str, packages: dict[str, str], *, extra: str = "") -> str:
    identity = {
        "format": FORMAT_VERSION,
        "strategy": strategy,
        "python": sys.version,
        "base_prefix": sys.base_prefix,
        "platform": platform.platform(),
        "packages": sorted(packages.items()),
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _cached(path: Path, build: Callable[[Path], None]) -> Path:
    """`path` if it exists, else built once (a lock keeps concurrent builders from racing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        return path
    with _locked(path.with_name(path.name + ".lock")):
        if path.is_file():
            return path
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        started = time.perf_counter()
        print(f"building {path.name} (once; cached in {path.parent}) ...", file=sys.stderr)
        try:
            build(partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        size = path.stat().st_size / 1e6
        print(
            f"built {path.name}: {size:.0f} MB in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
    return path


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _link(cached: Path, target: Path) -> str:
    """Reference the cached file from the run folder: a hard link, else an absolute symlink."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(cached, target)
        return "hardlink"
    except OSError:
        target.symlink_to(cached.resolve())
        return "symlink"


def _run(cmd: list[str], **kwargs: object) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise DmsweepError(f"environment: {' '.join(cmd[:3])} ... failed:\n{tail}")


def _build_tarball(
    out: Path, dists: list[metadata.Distribution], cuda: tuple[str, ...] = ()
) -> None:
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
        root = Path(tmp) / "python"
        _copy_interpreter(root)
        site = root / "lib" / f"python{_py_version()}" / "site-packages"
        for dist in dists:
            _copy_distribution(dist, site)
        if cuda:  # the nvidia-* wheels are not installed here: pip fetches them (several GB)
            _pip(["install", "--no-compile", "--target", str(site), *cuda])
        compress = ["zstd", "-T0", "-3", "-q"] if COMPRESSION == "zstd" else ["gzip", "-6"]
        with open(out, "wb") as stream:
            tar = subprocess.Popen(["tar", "-C", tmp, "-cf", "-", "python"], stdout=subprocess.PIPE)
            assert tar.stdout is not None
            packed = subprocess.run(compress, stdin=tar.stdout, stdout=stream)
            tar.stdout.close()
            if tar.wait() != 0 or packed.returncode != 0:
                raise DmsweepError(f"environment: packing {out.name} failed")


def _copy_interpreter(root: Path) -> None:
    """bin/python3.X, libpython, the stdlib (minus tests, IDLE, Tk) and the non-glibc shared
    libraries its extension modules link, with rpaths pointing inside the copy."""
    if shutil.which("patchelf") is None:
        raise DmsweepError(
            "environment: the tarball strategy needs patchelf (apt-get install patchelf)"
        )
    base = Path(sys.base_prefix)
    version = _py_version()
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    interpreter = root / "bin" / f"python{version}"
    shutil.copy2(Path(sys._base_executable).resolve(), interpreter)  # type: ignore[attr-defined]
    (root / "bin" / "python3").symlink_to(interpreter.name)
    (root / "bin" / "python").symlink_to(interpreter.name)
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libpython = base / "lib" / str(sysconfig.get_config_var("INSTSONAME"))
        shutil.copy2(libpython, root / "lib" / libpython.name)
    _run(["patchelf", "--set-rpath", "$ORIGIN/../lib", str(interpreter)])

    stdlib = Path(
        sysconfig.get_paths(vars={"base": str(base), "installed_base": str(base)})["stdlib"]
    )
    shutil.copytree(
        stdlib,
        root / "lib" / f"python{version}",
        symlinks=True,
        ignore=_ignore_in_stdlib(stdlib),
    )
    (root / "lib" / f"python{version}" / "site-packages").mkdir()
    _bundle_shared_libraries(root / "lib" / f"python{version}" / "lib-dynload", root / "lib")


def _ignore_in_stdlib(stdlib: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n.startswith("_tkinter")}
        if Path(folder) == stdlib:
            skipped |= {n for n in names if n in LEFT_OUT_STDLIB or n.startswith("config-")}
        return skipped

    return ignore


def _bundle_shared_libraries(dynload: Path, libdir: Path) -> None:
    """Copy what lib-dynload's modules link beyond glibc (libssl, libffi, libsqlite3, ...) into
    `libdir`, and point those modules (and the copies) at it."""
    bundled: dict[str, Path] = {}
    queue = sorted(dynload.glob("*.so"))
    users = []
    while queue:
        elf = queue.pop()
        needs = _linked_libraries(elf)
        if needs and elf.parent == dynload:
            users.append(elf)
        for name, path in needs.items():
            if name not in bundled:
                bundled[name] = libdir / name
                shutil.copy2(path, libdir / name)
                queue.append(libdir / name)
    for elf in users:
        _run(["patchelf", "--set-rpath", "$ORIGIN/../..", str(elf)])
    for copy in bundled.values():
        copy.chmod(0o755)
        _run(["patchelf", "--set-rpath", "$ORIGIN", str(copy)])


def _linked_libraries(elf: Path) -> dict[str, Path]:
    """Non-glibc shared libraries `elf` links (name -> resolved path on this machine)."""
    result = subprocess.run(["ldd", str(elf)], capture_output=True, text=True)
    libs = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        linked = len(parts) >= 3 and parts[1] == "=>" and parts[2].startswith("/")
        if linked and not GLIBC_LIBS.match(parts[0]):
            libs[parts[0]] = Path(parts[2]).resolve()
    return libs


def _build_time_only(record_path: str) -> bool:
    """A site-packages file no job needs (headers, a package's tests/ folder below its top)."""
    inner_folders = record_path.split("/")[1:-1]
    return record_path.startswith(SKIPPED_FILES) or any(
        folder in SKIPPED_FOLDERS for folder in inner_folders
    )


def _copy_distribution(dist: metadata.Distribution, site: Path) -> None:
    files = dist.files
    if files is None:
        raise DmsweepError(f"environment: {_dist_name(dist)} has no RECORD; reinstall it with pip")
    source_root = Path(str(dist.locate_file(""))).resolve()
    for rel in files:
        text = rel.as_posix()
        if text.startswith("..") or _build_time_only(text):
            continue
        source = source_root / text
        if not source.is_file():
            continue  # RECORD lists __pycache__ entries that may never have been written
        target = site / text
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def _pip(args: list[str]) -> None:
    _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args])


def _build_wheelhouse(out: Path, packages: dict[str, str], cuda: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
        wheels = Path(tmp) / "wheelhouse"
        pins = [f"{name}=={version}" for name, version in sorted(packages.items())]
        _pip(["wheel", "--no-deps", "--wheel-dir", str(wheels), *pins])
        if cuda:  # with their dependencies (other nvidia-* wheels)
            _pip(["wheel", "--wheel-dir", str(wheels), *cuda])
        (wheels / "requirements.txt").write_text("\n".join([*pins, *cuda]) + "\n")
        _run(["tar", "-C", tmp, "-cf", str(out), "wheelhouse"])
