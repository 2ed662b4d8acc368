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


def test_the_walk_is_kept_until_a_folder_holding_a_job_package_changes(tmp_path, monkeypatch):
    """A build that finds its tarball cached reads the job packages from the last walk; a
    package installed, upgraded or removed since (a changed folder mtime) walks again."""
    import json
    import os

    from dmsweep.run_builder import environments

    walked = {_dist_name(d): _dist_version(d) for d in job_distributions()}
    cache = tmp_path / "envs"
    assert job_packages(cache) == walked
    record = packages_record(cache)
    recorded = json.loads(record.read_text())
    assert recorded["packages"] == walked and recorded["folders"]  # site-packages, with mtime
    calls = []
    real_walk = environments.job_distributions
    monkeypatch.setattr(environments, "job_distributions", lambda: calls.append(1) or real_walk())
    assert job_packages(cache) == walked and not calls  # from the record, no walk
    site = tmp_path / "site"  # a stand-in for site-packages (the real one stays untouched)
    site.mkdir()
    recorded["folders"] = {str(site): os.stat(site).st_mtime_ns}
    record.write_text(json.dumps(recorded))
    assert job_packages(cache) == walked and not calls
    (site / "new_package-1.0.dist-info").mkdir()
    os.utime(site, ns=(0, os.stat(site).st_mtime_ns + 1))  # as an install changes it
    assert job_packages(cache) == walked and len(calls) == 1  # walked again, record renewed
    assert job_packages(cache) == walked and len(calls) == 1
    record.write_text('{"installation": 1, "packages": [')  # corrupt: walked, not trusted
    assert job_packages(cache) == walked and len(calls) == 2


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
