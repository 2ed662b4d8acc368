"""A staged environment file (`environment.staging`): fetched by HTCondor from a URL, or read
in place from a shared path, instead of travelling from the submit node with every job; the
wrapper checks it against the sha256 recorded in the run folder before unpacking it.

The environment here is a small real tarball (a `python/bin/python3` that execs this machine's
interpreter), built by the tarball strategy's own machinery, so that the URL through the real
pool and the checks in the real wrapper run in seconds.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
from condor_pool import condor_pool  # noqa: F401  (a fixture)
from run_specs import write_spec
from test_run_env_unpack import member, tarball

from dmsweep.core.results import is_valid_result
from dmsweep.errors import ConfigError
from dmsweep.run_builder import environments
from dmsweep.run_builder.environments import EnvSize, transfer_lines, upload_command
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.local import run_batch
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.spec import load_spec

PYTHON = f'#!/bin/sh\nexec {sys.executable} "$@"\n'


def interpreter(extra: bytes = b"") -> list:
    members = [
        member("python/", tarfile.DIRTYPE),
        member("python/bin/", tarfile.DIRTYPE),
        member("python/bin/python3", data=PYTHON.encode()),
    ]
    return members + ([member("python/extra", data=extra)] if extra else [])


def build(tmp_path: Path, data_dir: Path, monkeypatch, staging: str, name: str = "staged") -> Run:
    monkeypatch.setattr(environments, "COMPRESSION", "zstd")
    monkeypatch.setattr(
        environments, "_build_tarball", lambda out, dists, cuda=(): tarball(out, interpreter())
    )
    monkeypatch.setattr(environments, "job_distributions", lambda: [])
    spec = write_spec(
        tmp_path / "tiny.yaml",
        environment={"strategy": "tarball", "staging": staging},
        models={"linear": {"fixed": {"split": "random", "max_variants": 2000}}},
        replicates={"seed": [1]},
        trainings_per_job=1,
    )
    options = BuildOptions(
        runs_dir=tmp_path / "runs",
        data_dir=data_dir,
        name=name,
        cache_dir=tmp_path / "cache",
        log=lambda line: (tmp_path / "build.log").open("a").write(line + "\n"),
    )
    return Run.open(build_run(spec, options))


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"strategy": "shared", "staging": "/srv/envs"}, "only applies with strategy: tarball or"),
        ({"strategy": "container", "image": "docker://x", "staging": "https://h/e"}, "only appl"),
        ({"staging": "ftp://host/envs"}, "expected an https://, http://, osdf:// URL or an abs"),
        ({"staging": "envs/here"}, "or an absolute path, got 'envs/here'"),
        ({"staging": "https://h/a,b"}, "no spaces, commas"),
        ({"staging": "/srv/my envs"}, "no spaces, commas"),
        ({"staging": "https://"}, "expected a host or folder after the scheme"),
        ({"staging": "https://u:tok3n@h/envs"}, "without credentials, query or fragment"),
        ({"staging": "https://h/envs?sig=s3cret"}, "got 'https://h/envs?***'"),
    ],
)
def test_bad_staging_is_refused(tmp_path, environment, message) -> None:
    spec = write_spec(tmp_path / "s.yaml", environment=environment)
    with pytest.raises(ConfigError) as info:
        load_spec(spec)
    assert "environment.staging: " in str(info.value) and message in str(info.value)
    assert "tok3n" not in str(info.value) and "s3cret" not in str(info.value)


def test_a_url_is_transferred_instead_of_the_file(tmp_path, data_dir, monkeypatch) -> None:
    run = build(tmp_path, data_dir, monkeypatch, "https://stage.example.org/envs/")
    env = run.manifest.environment
    assert env.staged == f"https://stage.example.org/envs/{env.file_name}"
    submit = run.paths.submit_file.read_text()
    transfer = next(line for line in submit.splitlines() if line.startswith("transfer_input"))
    assert transfer == f"transfer_input_files = code, data, {env.staged}"
    command = f"curl --fail --upload-file {run.paths.root / env.files[0]} {env.staged}"
    assert upload_command(env, run.paths.root) == command
    assert f"  {command}" in (tmp_path / "build.log").read_text().splitlines()
    assert (
        f"curl --fail --upload-file env/{env.file_name}"
        in (run.paths.root / "README.md").read_text()
    )
    assert env.sha256 in run.paths.wrapper.read_text()
    osdf = environments.EnvRef(strategy="tarball", files=("env/e.tar.zst",), staged="osdf:///o/e")
    assert upload_command(osdf, Path("/r")) == "pelican object put /r/env/e.tar.zst osdf:///o/e"


def stage_copy(run: Run, stage: Path) -> Path:
    """The run's environment file copied to the staging folder; the run folder's copy removed,
    so that the job can only find it where it is staged."""
    env = run.manifest.environment
    staged = stage / env.file_name
    shutil.copy(run.paths.root / env.files[0], staged)
    (run.paths.root / env.files[0]).unlink()
    return staged


@pytest.mark.slow  # one real training (TensorFlow's import is most of it)
def test_a_shared_path_is_read_in_place(tmp_path, data_dir, monkeypatch) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    run = build(tmp_path, data_dir, monkeypatch, str(stage))
    assert "transfer_input_files = code, data\n" in run.paths.submit_file.read_text()
    assert upload_command(run.manifest.environment, run.paths.root).startswith("cp ")
    staged = stage_copy(run, stage)
    outcome = run_batch(run, run.queue[0])
    assert outcome.returncode == 0, outcome.log.read_text()
    (job_id,) = run.batch_of
    assert is_valid_result(run.paths.results / job_id, job_id)
    assert staged.is_file()  # read in place, never removed


def test_a_changed_or_missing_staged_file_is_refused(tmp_path, data_dir, monkeypatch) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    run = build(tmp_path, data_dir, monkeypatch, str(stage))
    env = run.manifest.environment
    staged = stage_copy(run, stage)
    staged.unlink()  # replaced by another file: refused before anything is unpacked
    tarball(staged, interpreter(extra=b"not the one built"))
    outcome = run_batch(run, run.queue[0])
    stderr = outcome.log.read_text()
    assert outcome.returncode == 3, stderr
    assert f"{staged} does not match the sha256 recorded when the run was built" in stderr
    assert (
        f"it was fetched from {env.staged}: upload the env/ file of this run there again" in stderr
    )
    assert not list((run.paths.root / ".scratch").glob("*/python"))  # nothing unpacked

    staged.unlink()
    outcome = run_batch(run, run.queue[0])
    assert outcome.returncode == 3
    assert f"(staged at {env.staged}: uploaded?)" in outcome.log.read_text()


def test_dry_run_shows_bytes_per_job_and_in_all_for_each_choice() -> None:
    from dmsweep.run_builder.spec import EnvironmentSpec

    size = EnvSize("tarball", "python3.11-k.tar.zst", 612_000_000, True)
    lines = transfer_lines(EnvironmentSpec(), 14, size)
    assert lines[0] == "environment: tarball, python3.11-k.tar.zst, 612 MB (in the cache)"
    assert lines[1].startswith(" * submit node  612 MB per job, 8.6 GB for 14 jobs")
    assert "0 B from the submit node; 612 MB per job, 8.6 GB in all" in lines[2]
    assert lines[3].startswith("   shared path  0 B")
    staged = transfer_lines(EnvironmentSpec(staging="osdf:///o"), 14, size)
    assert staged[2].startswith(" * URL") and staged[1].startswith("   submit node")
    estimated = EnvSize("wheelhouse", "w.tar", 2_000, False)
    assert "2 KB (estimated: not built yet)" in transfer_lines(EnvironmentSpec(), 1, estimated)[0]
    assert (
        "nothing transferred"
        in transfer_lines(EnvironmentSpec("shared"), 3, EnvSize("shared", None, 0, True))[0]
    )


@pytest.mark.condor
@pytest.mark.slow
@pytest.mark.usefixtures("condor_pool")
def test_the_pool_fetches_a_staged_url_served_on_loopback(tmp_path, data_dir, monkeypatch) -> None:
    """The environment file served by http.server on 127.0.0.1: HTCondor's curl plugin fetches
    it into the scratch folder, the wrapper checks and unpacks it, the training comes back;
    swapped on the server, the job fails with the checksum message."""
    from test_condor_sweep import _wait

    from dmsweep.run_builder.submit import submit_run

    served = tmp_path / "served"
    served.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requests.append(self.path)

    handler = functools.partial(Handler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/envs"
        run = build(tmp_path, data_dir, monkeypatch, url)
        env = run.manifest.environment
        (served / "envs").mkdir()
        shutil.copy(run.paths.root / env.files[0], served / "envs" / env.file_name)
        submit_run(run, preflight=False)
        status = _wait(run, lambda s: s.finished, timeout_s=300)
        assert status.counts()["done"] == 1, status.counts()
        (job_id,) = run.batch_of
        assert is_valid_result(run.paths.results / job_id, job_id)
        assert requests == [f"/envs/{env.file_name}"]  # fetched once, from the server

        swapped = served / "envs" / env.file_name
        swapped.unlink()
        tarball(swapped, interpreter(extra=b"changed on the server"))
        assert hashlib.sha256(swapped.read_bytes()).hexdigest() != env.sha256
        shutil.rmtree(run.paths.results / job_id)
        submit_run(run, preflight=False, force=True)
        deadline = time.monotonic() + 300
        while not any("does not match the sha256" in p.read_text() for p in _errs(run)):
            assert time.monotonic() < deadline, [p.read_text() for p in _errs(run)]
            time.sleep(2)
    finally:
        server.shutdown()


def _errs(run: Run) -> list[Path]:
    return sorted(run.paths.logs.glob("*.err"))
