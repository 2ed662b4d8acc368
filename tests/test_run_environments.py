"""Environment strategies: what goes into a job environment, and how held jobs grow."""

from __future__ import annotations

import pytest

from dmsweep.errors import ConfigError
from dmsweep.run_builder.condor import QueuedJob
from dmsweep.run_builder.environments import (
    _EXTRA_ONLY,
    NEVER_IN_JOB_ENV,
    STRATEGIES,
    _dist_name,
    _dist_version,
    _headers,
    _parse_headers,
    job_distributions,
    job_packages,
    packages_record,
    prepare_environment,
)
from dmsweep.run_builder.resubmit import _growth
from dmsweep.run_builder.spec import ENV_STRATEGIES, EnvironmentSpec


def test_job_environment_is_the_job_closure_only():
    names = {d.metadata["Name"].lower().replace("_", "-") for d in job_distributions()}
    for wanted in ("tensorflow", "tf-keras", "spektral", "numpy", "pandas", "scipy", "biopython",
                   "pyyaml", "h5py", "protobuf"):  # fmt: skip
        assert wanted in names
    for unwanted in (*NEVER_IN_JOB_ENV, "jupyter-core", "ipykernel", "pytest", "tqdm-extra"):
        assert unwanted not in names
    assert "dmsweep" not in names  # the run folder carries its own copy of the code


def test_the_walk_is_kept_while_the_folders_on_sys_path_keep_their_mtimes(tmp_path, monkeypatch):
    """A build that finds its tarball cached reads the job packages from the last walk; a
    package installed, upgraded or removed since (a changed folder mtime on sys.path) or
    another sys.path walks again; a damaged or planted record is not used."""
    import json
    import os
    import sys

    from dmsweep.run_builder import environments

    monkeypatch.setattr(environments, "SETTLE_SECONDS", 0.0)  # tests/ may have changed just now
    walked = {_dist_name(d): _dist_version(d) for d in job_distributions()}
    site = tmp_path / "site"  # a stand-in for site-packages (the real one stays untouched)
    site.mkdir()
    settled = os.stat(site).st_mtime_ns - 10**10  # changed 10 s ago: trusted to show changes
    os.utime(site, ns=(settled, settled))
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    cache = tmp_path / "envs"
    assert job_packages(cache) == walked
    record = packages_record(cache)
    recorded = json.loads(record.read_text())
    assert recorded["packages"] == walked
    assert [str(site), settled] in recorded["signature"]["folders"]
    calls = []
    real_walk = environments.job_distributions
    monkeypatch.setattr(environments, "job_distributions", lambda: calls.append(1) or real_walk())

    recorded["packages"] = {"tensorflow": "0.1"}  # what the record says is what is used...
    record.write_text(json.dumps(recorded))
    assert job_packages(cache) == {"tensorflow": "0.1"} and not calls
    assert job_packages(cache, walk=True) == walked and len(calls) == 1  # ...unless walking
    assert json.loads(record.read_text())["packages"] == walked  # and the walk renews it

    recorded["packages"] = {"tensorflow": "0.1"}
    record.write_text(json.dumps(recorded))
    (site / "tensorflow-0.2.dist-info").mkdir()  # an install changes the folder's mtime
    os.utime(site, ns=(settled + 1, settled + 1))
    assert job_packages(cache) == walked and len(calls) == 2
    assert job_packages(cache) == walked and len(calls) == 2  # renewed: no walk

    monkeypatch.setattr(sys, "path", sys.path[:-1])  # another sys.path
    assert job_packages(cache) == walked and len(calls) == 3

    good = json.loads(record.read_text())
    for planted in ({"--index-url=https://x/simple": "1"}, {"tensorflow": "-e ."}, ["x"]):
        record.write_text(json.dumps({**good, "packages": planted}))
        assert job_packages(cache) == walked
    record.write_text("[" * 100_000)  # nested past the JSON parser's recursion limit
    assert job_packages(cache) == walked and len(calls) == 7


def test_a_record_only_names_a_cached_file_what_is_built_comes_from_a_walk(tmp_path, monkeypatch):
    """A record naming a file the cache does not hold (stale, or planted) is not what an
    environment is built from: the packages, key and name are a fresh walk's."""
    import json

    from dmsweep.run_builder import environments
    from dmsweep.run_builder.environments import Tarball, Wheelhouse, _cached_artifact

    monkeypatch.setattr(environments, "SETTLE_SECONDS", 0.0)
    walked = {_dist_name(d): _dist_version(d) for d in job_distributions()}
    cache = tmp_path / "envs"
    job_packages(cache)
    record = packages_record(cache)
    recorded = json.loads(record.read_text())
    record.write_text(json.dumps({**recorded, "packages": {"tensorflow": "0.1"}}))
    for strategy in (Tarball(), Wheelhouse()):
        packages, key, name = _cached_artifact(strategy, EnvironmentSpec(strategy.name), cache)
        assert {k: v for k, v in packages.items() if k != "pip" or k in walked} == walked
        assert (key, name) == strategy.file_name(packages)
    stale = Tarball().file_name({"tensorflow": "0.1"})[1]
    (cache / stale).write_bytes(b"a tarball of other packages")
    record.write_text(json.dumps({**recorded, "packages": {"tensorflow": "0.1"}}))
    assert _cached_artifact(Tarball(), EnvironmentSpec("tarball"), cache)[2] == stale


def test_a_fresh_folder_mtime_keeps_no_record(tmp_path, monkeypatch):
    """A folder changed within two seconds may change again within the clock's resolution
    (or a pip install is still running): its walk is not recorded."""
    import sys

    site = tmp_path / "site"
    site.mkdir()  # mtime: now
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    job_packages(tmp_path / "envs")
    assert not packages_record(tmp_path / "envs").exists()


def test_metadata_headers_read_once_agree_with_the_email_parser():
    """The walk parses METADATA itself (the email parser, run on every `.metadata` access, was
    most of a build's environment step): names, versions and requirements must be the same."""
    from packaging.requirements import Requirement

    for dist in job_distributions():
        assert _dist_name(dist) == dist.metadata["Name"]
        assert _dist_version(dist) == dist.version
        requires = _headers(dist).get("Requires-Dist", [])
        assert requires == (dist.metadata.get_all("Requires-Dist") or [])
        for text in requires:  # what the walk skips unparsed is never wanted without extras
            if _EXTRA_ONLY.search(text):
                assert not Requirement(text).marker.evaluate({"extra": ""}), text


def test_header_parsing_stops_at_the_body_and_joins_continuations():
    text = (
        "Metadata-Version: 2.1\nName: demo\nLicense: line one\n        line two\n"
        "Requires-Dist: a>=1\nRequires-Dist: b ; extra == 'x'\n\nRequires-Dist: not-a-header\n"
    )
    fields = _parse_headers(text)
    assert fields["Name"] == ["demo"]
    assert fields["License"] == ["line one line two"]
    assert fields["Requires-Dist"] == ["a>=1", "b ; extra == 'x'"]
    assert _EXTRA_ONLY.search(fields["Requires-Dist"][1])
    assert not _EXTRA_ONLY.search("c ; python_version < '3.9' or extra == 'x'")


def test_registry_matches_the_spec_strategies():
    assert set(STRATEGIES) == set(ENV_STRATEGIES)


def test_container_needs_an_image(tmp_path):
    with pytest.raises(ConfigError, match="image"):
        prepare_environment(EnvironmentSpec(strategy="container"), tmp_path / "env")
    ref = prepare_environment(
        EnvironmentSpec(strategy="container", image="docker://x/y:1"), tmp_path / "env"
    )
    assert ref.image == "docker://x/y:1" and ref.files == ()


def _held(reason: str, code: int = 1) -> QueuedJob:
    return QueuedJob(1, 0, "held", reason, code, 0, 2048, 4096)


@pytest.mark.parametrize(
    ("reason", "code", "growth"),
    [
        ("Job has gone over cgroup memory limit of 2048 megabytes.", 34, (2.0, 1.0)),
        ("Job has exceeded request_disk: disk usage 5 GB", 34, (1.0, 2.0)),
        ("resource limit exceeded", 34, (2.0, 2.0)),
        ("dmsweep test: memory usage exceeded request_memory", 1, (2.0, 1.0)),
        ("via condor_hold (by user alice)", 1, (1.0, 1.0)),
        ("Error from slot1: transfer input files failed", 13, (1.0, 1.0)),
    ],
)
def test_held_jobs_grow_only_for_memory_or_disk(reason, code, growth):
    assert _growth(_held(reason, code)) == growth
