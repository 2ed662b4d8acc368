"""manifest.json is one typed record: what the builder writes reads back equal, and a damaged
manifest is one error naming the file and the field."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from run_specs import write_spec

from dmsweep.core.runmanifest import FORMAT, EnvRef, RunManifest
from dmsweep.errors import DmsweepError
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.run import Run


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("manifest")
    spec = write_spec(tmp / "tiny.yaml")
    return build_run(spec, BuildOptions(runs_dir=tmp / "runs", data_dir=data_dir, name="m"))


def test_what_the_builder_writes_reads_back_typed(built) -> None:
    manifest = Run.open(built).manifest
    assert isinstance(manifest.environment, EnvRef)
    assert manifest.environment.strategy == "shared"
    assert manifest.trainings == 4 and manifest.batches == 2 and manifest.format == FORMAT
    assert manifest.queue_vars[0] == "batch_id" and manifest.queue_vars[-1] == "configs"
    assert RunManifest.read(built / "manifest.json") == manifest
    assert json.loads(manifest.to_json()) == json.loads((built / "manifest.json").read_text())


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda m: m.pop("environment"), "environment: missing"),
        (lambda m: m.update(trainings="4"), "trainings: expected an integer, got '4'"),
        (lambda m: m.update(trainings=True), "trainings: expected an integer, got True"),
        (lambda m: m.update(preflight="yes"), "preflight: expected true or false"),
        (lambda m: m["environment"].update(files="env.tar"), "environment: files: expected a list"),
        (lambda m: m["environment"].pop("strategy"), "environment: strategy: missing"),
        (lambda m: m.update(data=[1]), "data: expected an object"),
        (lambda m: m.update(format=99), "format 99: this dmsweep reads format 1"),
    ],
)
def test_a_damaged_manifest_is_one_error_naming_the_field(built, tmp_path, damage, words) -> None:
    raw = json.loads((built / "manifest.json").read_text())
    damage(raw)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(DmsweepError) as error:
        RunManifest.read(path)
    assert str(error.value).startswith(f"{path}: ") and words in str(error.value)


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", "\xff"])
def test_an_unreadable_manifest_is_one_error(tmp_path, text) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(DmsweepError, match=r"manifest\.json: "):
        RunManifest.read(path)


def test_defaults_are_optional_in_old_manifests(built, tmp_path) -> None:
    raw = json.loads((built / "manifest.json").read_text())
    for optional in ("packages", "sha256", "link"):
        raw["environment"].pop(optional)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw))
    env = RunManifest.read(path).environment
    assert env == replace(
        Run.open(built).manifest.environment, packages={}, sha256=None, link="none"
    )
