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
