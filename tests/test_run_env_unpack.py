"""The job wrapper unpacks an environment file only when it is the one built (checksum recorded
in the run folder) and only inside its own folder: crafted tarballs run through the real
wrapper (run-local's scratch folders) can neither write outside `python/` nor change the run
folder's `code/`."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from run_specs import write_spec

from dmsweep.run_builder import environments
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.local import run_batch
from dmsweep.run_builder.run import Run

FAKE_PYTHON = f"""#!/bin/sh
echo "$@" >> "$DMSWEEP_FAKE_PYTHON_LOG"
exec {sys.executable} "$@"
"""


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None


def interpreter() -> list:
    return [
        member("python/", tarfile.DIRTYPE),
        member("python/bin/", tarfile.DIRTYPE),
        member("python/bin/python3", data=FAKE_PYTHON.encode()),
        member("python/bin/python", tarfile.SYMTYPE, link="python3"),
        member("python/lib/", tarfile.DIRTYPE),
        member("python/lib/same", tarfile.LNKTYPE, link="python/bin/python3"),
        member("python/lib/up", tarfile.SYMTYPE, link="../bin"),
    ]


EVIL = "import sys; sys.exit('pwned')\n"
CRAFTED = {
    "into code/": [member("code/dmsweep/cli.py", data=EVIL.encode())],
    "dot-dot": [member("python/../../escape.txt", data=b"x")],
    "absolute": [member("/tmp/dmsweep-absolute-escape.txt", data=b"x")],
    "link up and out": [member("python/lib/out", tarfile.SYMTYPE, link="../../..")],
    "absolute link": [member("python/lib/abs", tarfile.SYMTYPE, link="/etc")],
    "dot-dot inside a link": [member("python/lib/z", tarfile.SYMTYPE, link="bin/../../..")],
    "member under a link": [
        member("python/s", tarfile.SYMTYPE, link="."),
        member("python/s/z", data=b"x"),
    ],
    "hard link out": [member("python/h", tarfile.LNKTYPE, link="code/dmsweep/cli.py")],
    "fifo": [member("python/p", tarfile.FIFOTYPE)],
    "name with an arrow": [member("python/a -> b", tarfile.SYMTYPE, link="c -> d")],
}


def tarball(out: Path, members: list) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, data)
    packed = subprocess.run(["zstd", "-q", "-c"], input=buffer.getvalue(), capture_output=True)
    out.write_bytes(packed.stdout)


def build(tmp_path: Path, data_dir: Path, monkeypatch, members: list, name: str) -> Run:
    monkeypatch.setattr(environments, "COMPRESSION", "zstd")
    monkeypatch.setattr(
        environments, "_build_tarball", lambda out, dists, cuda=(): tarball(out, members)
    )
    monkeypatch.setattr(environments, "job_distributions", lambda: [])
    spec = write_spec(tmp_path / "tiny.yaml", strategy="tarball", trainings_per_job=4)
    options = BuildOptions(
        runs_dir=tmp_path / "runs", data_dir=data_dir, name=name, cache_dir=tmp_path / name
    )
    return Run.open(build_run(spec, options))


def code_digest(run: Run) -> str:
    sha = hashlib.sha256()
    for path in sorted((run.paths.root / "code").rglob("*")):
        sha.update(str(path).encode())
        if path.is_file():
            sha.update(path.read_bytes())
    return sha.hexdigest()


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_tarball_is_refused_before_anything_is_unpacked(
    tmp_path, data_dir, monkeypatch, case
):
    log = tmp_path / "python.log"
    monkeypatch.setenv("DMSWEEP_FAKE_PYTHON_LOG", str(log))
    monkeypatch.setattr("dmsweep.run_builder.local.PASSED_ENV", ("PATH", "DMSWEEP_FAKE_PYTHON_LOG"))
    run = build(tmp_path, data_dir, monkeypatch, [*interpreter(), *CRAFTED[case]], "evil")
    before = code_digest(run)
    outcome = run_batch(run, run.queue[0])
    stderr = outcome.log.read_text()
    assert outcome.returncode == 3, stderr
    assert "refusing to unpack" in stderr, stderr
    assert code_digest(run) == before
    assert not log.exists()  # nothing of the environment ran
    assert (
        not (tmp_path / "escape.txt").exists() and not (tmp_path / "runs" / "escape.txt").exists()
    )
    assert not Path("/tmp/dmsweep-absolute-escape.txt").exists()


def test_a_good_tarball_unpacks_and_runs(tmp_path, data_dir, monkeypatch):
    log = tmp_path / "python.log"
    monkeypatch.setenv("DMSWEEP_FAKE_PYTHON_LOG", str(log))
    monkeypatch.setattr("dmsweep.run_builder.local.PASSED_ENV", ("PATH", "DMSWEEP_FAKE_PYTHON_LOG"))
    run = build(tmp_path, data_dir, monkeypatch, interpreter(), "good")
    recorded = run.manifest.environment.sha256
    env_file = run.paths.root / run.manifest.environment.files[0]
    assert recorded == hashlib.sha256(env_file.read_bytes()).hexdigest()
    assert recorded in (run.paths.wrapper).read_text()
    outcome = run_batch(run, run.queue[0].with_configs(run.queue[0].configs[:1]))
    assert "refusing" not in outcome.log.read_text()
    assert log.read_text().startswith("-m dmsweep.train"), outcome.log.read_text()


def test_an_environment_file_changed_after_the_build_is_refused(tmp_path, data_dir, monkeypatch):
    log = tmp_path / "python.log"
    monkeypatch.setenv("DMSWEEP_FAKE_PYTHON_LOG", str(log))
    monkeypatch.setattr("dmsweep.run_builder.local.PASSED_ENV", ("PATH", "DMSWEEP_FAKE_PYTHON_LOG"))
    run = build(tmp_path, data_dir, monkeypatch, interpreter(), "swapped")
    env_file = run.paths.root / run.manifest.environment.files[0]
    env_file.unlink()  # a hard link into the cache: replace, do not edit in place
    tarball(env_file, [*interpreter(), member("python/extra", data=b"not built by us")])
    outcome = run_batch(run, run.queue[0])
    stderr = outcome.log.read_text()
    assert outcome.returncode == 3
    assert "does not match the sha256 recorded" in stderr
    assert not log.exists()


def test_the_checksum_is_computed_once_per_cached_file(tmp_path):
    target = tmp_path / "env.tar"
    target.write_bytes(b"x" * 1000)
    digest = environments.file_sha256(target)
    assert digest == hashlib.sha256(b"x" * 1000).hexdigest()
    sidecar = tmp_path / "env.tar.sha256"
    assert sidecar.read_text().startswith(digest)
    sidecar.write_text(sidecar.read_text().replace(digest, "0" * 64))
    assert environments.file_sha256(target) == "0" * 64  # read from the sidecar
    target.write_bytes(b"y" * 1000)  # changed: recomputed
    assert environments.file_sha256(target) == hashlib.sha256(b"y" * 1000).hexdigest()
