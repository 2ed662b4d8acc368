"""A GPU environment per model type (`environment.gpu`): batches whose resources ask for GPUs
transfer and run their own environment (a CUDA tarball or another image), the others the CPU
one; the spec, manifest, submit file, wrapper and `--dry-run` say so.

Nothing is downloaded: the CUDA tarball is a small fake built by the tarball strategy's own
machinery (its content key and name come from the installed TensorFlow's metadata).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile

import pytest
from condor_pool import condor_pool  # noqa: F401  (a fixture)
from run_specs import write_spec
from test_run_env_staging import interpreter
from test_run_env_unpack import member, tarball

from dmsweep.core.runmanifest import RunManifest
from dmsweep.errors import ConfigError
from dmsweep.run_builder import environments
from dmsweep.run_builder.environments import (
    CUDA_BYTES,
    EnvSize,
    cuda_bytes_estimate,
    cuda_requirements,
    environment_lines,
)
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.spec import EnvironmentSpec, Resources, load_spec

CPU_IMAGE = "docker://example.org/dmsweep:0.1"
GPU_IMAGE = "docker://example.org/dmsweep-gpu:0.1"
CPU, GPU = Resources(), Resources(gpus=1)
GPU_FC = {"default": {"cpus": 1, "memory_mb": 2000, "disk_mb": 3000}, "fc": {"gpus": 1}}


@pytest.mark.parametrize(
    ("environment", "key", "message"),
    [
        ({"gpu": {"strategy": "tarbal"}}, "environment.gpu.strategy", "did you mean 'tarball'"),
        ({"gpu": {"cuda": "yes"}}, "environment.gpu.cuda", "expected true or false"),
        ({"cuda": True, "strategy": "shared"}, "environment.cuda", "only applies with strategy"),
        ({"gpu": {"strategy": "container"}}, "environment.gpu.image", "missing"),
        ({"gpu": {"gpu": {}}}, "environment.gpu.gpu", "unknown key"),
        ({"gpu": {"staging": "ftp://x/y"}}, "environment.gpu.staging", "absolute path"),
        ({"gpu": "tarball"}, "environment.gpu", "mapping"),
        (
            {
                "strategy": "container",
                "image": CPU_IMAGE,
                "gpu": {"strategy": "container", "image": "docker://x\nqueue 1000"},
            },
            "environment.gpu.image",
            "holds U+000A (line feed)",
        ),
        (
            {"gpu": {"strategy": "container", "image": GPU_IMAGE}},
            "environment.gpu.strategy",
            "one run folder is one HTCondor universe",
        ),
    ],
)
def test_bad_gpu_environments_are_one_line_errors(tmp_path, environment, key, message) -> None:
    spec = write_spec(tmp_path / "s.yaml", environment={"strategy": "tarball", **environment})
    with pytest.raises(ConfigError) as info:
        load_spec(spec)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{spec}: {key}: ") and message in text, text


def test_batches_asking_for_gpus_get_the_gpu_environment(tmp_path) -> None:
    environment = {"strategy": "tarball", "gpu": {"strategy": "wheelhouse", "cuda": True}}
    spec = load_spec(write_spec(tmp_path / "s.yaml", environment=environment))
    env = spec.environment
    assert env.gpu == EnvironmentSpec("wheelhouse", cuda=True)
    assert env.for_gpus(1) is env.gpu and env.for_gpus(0) is env
    assert EnvironmentSpec().for_gpus(2) == EnvironmentSpec()  # no gpu: one environment


def test_the_cuda_key_and_name_come_from_tensorflows_and_cuda_extra(tmp_path) -> None:
    requirements = cuda_requirements()
    assert requirements and all(r.startswith("nvidia-") for r in requirements)
    assert any(r.startswith("nvidia-cudnn-cu12") for r in requirements)
    tar = environments.Tarball()
    packages = environments.job_packages(tmp_path)
    (cpu_key, cpu_name), (cuda_key, cuda_name) = (
        tar.file_name(packages),
        tar.file_name(packages, cuda=True),
    )
    assert cuda_key != cpu_key and cuda_name == cpu_name.replace(cpu_key, f"cuda-{cuda_key}")
    assert "-cuda-" in environments.Wheelhouse().file_name(packages, cuda=True)[1]


def _fake_builds(monkeypatch) -> list[tuple[str, ...]]:
    """Tarballs built as small fakes (a python3 that says which environment it is, then runs
    this machine's interpreter); returns the cuda requirements each build was given."""
    builds: list[tuple[str, ...]] = []

    def build(out, dists, cuda=()):
        builds.append(tuple(cuda))
        which = "cuda" if cuda else "cpu"
        members = interpreter(extra=which.encode())
        script = f'#!/bin/sh\necho "fake {which} environment" >&2\nexec {sys.executable} "$@"\n'
        members[2] = member("python/bin/python3", data=script.encode())
        tarball(out, members)

    monkeypatch.setattr(environments, "COMPRESSION", "zstd")
    monkeypatch.setattr(environments, "_build_tarball", build)
    return builds


def _build(tmp_path, data_dir, environment, resources=GPU_FC, name="g") -> Run:
    spec = write_spec(tmp_path / "tiny.yaml", environment=environment, resources=resources)
    options = BuildOptions(
        runs_dir=tmp_path / "runs",
        data_dir=data_dir,
        name=name,
        cache_dir=tmp_path / "cache",
        log=lambda line: None,
    )
    return Run.open(build_run(spec, options))


def test_cpu_and_cuda_tarballs_each_job_transfers_its_own(tmp_path, data_dir, monkeypatch):
    builds = _fake_builds(monkeypatch)
    environment = {"strategy": "tarball", "gpu": {"strategy": "tarball", "cuda": True}}
    run = _build(tmp_path, data_dir, environment)
    manifest = run.manifest
    cpu, gpu = manifest.environment, manifest.gpu_environment
    assert gpu is not None and "-cuda-" in gpu.file_name and "-cuda-" not in cpu.file_name
    assert builds == [(), cuda_requirements()]  # each built once
    assert gpu.packages["tensorflow[and-cuda]"] == "; ".join(cuda_requirements())
    # fc asks for a GPU: its batches are their own requirement class, with the GPU environment
    assert manifest.requirement_environments == ("cpu", "gpu")
    by_model = {line.configs[0]["model"]: line for line in run.queue}
    assert (by_model["linear"].req, by_model["fc"].req) == (0, 1)
    assert manifest.environment_for(1) == gpu and manifest.environment_for(0) == cpu
    submit = run.paths.submit_file.read_text()
    assert f"ENVFILES_0 = , env/{cpu.file_name}\n" in submit
    assert f"ENVFILES_1 = , env/{gpu.file_name}\n" in submit
    assert "transfer_input_files = code, data$(ENVFILES_$(req))\n" in submit
    assert 'environment = "DMSWEEP_ENV=$(ENV_$(req))"' in submit
    assert re.search(r"^ENV_1 = gpu$", submit, flags=re.M)
    wrapper = run.paths.wrapper.read_text()
    assert cpu.sha256 in wrapper and gpu.sha256 in wrapper
    assert wrapper.index(cpu.sha256) < wrapper.index("  gpu)") < wrapper.index(gpu.sha256)
    # the manifest round-trips; the README names both
    assert RunManifest.read(run.paths.manifest) == manifest
    assert gpu.file_name in (run.paths.root / "README.md").read_text()


@pytest.mark.parametrize(
    ("choice", "code", "message"),
    [("gpu", 3, "-cuda-"), ("cpu", 3, "is not in the scratch"), ("tpu", 2, "cpu or gpu")],
)
def test_the_wrapper_unpacks_the_environment_its_job_was_given(
    tmp_path, data_dir, monkeypatch, choice, code, message
):
    """Only the other environment's file in the scratch folder: the job refuses to start and
    names the file it looked for, so DMSWEEP_ENV alone picks which one is unpacked."""
    _fake_builds(monkeypatch)
    environment = {"strategy": "tarball", "gpu": {"strategy": "tarball", "cuda": True}}
    run = _build(tmp_path, data_dir, environment)
    cpu, gpu = run.manifest.environment, run.manifest.gpu_environment
    assert gpu is not None
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    other = cpu if choice == "gpu" else gpu
    (scratch / other.file_name).symlink_to(run.paths.root / other.files[0])
    result = subprocess.run(
        ["bash", str(run.paths.wrapper), "b000001", "1", "AAAA"],
        cwd=scratch,
        env={"PATH": "/usr/bin:/bin", "DMSWEEP_ENV": choice},
        capture_output=True,
        text=True,
    )
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    if choice != "tpu":
        wanted = gpu if choice == "gpu" else cpu
        assert f"run_job.sh: {wanted.file_name} is not in the scratch folder" in result.stderr


def test_no_gpu_batch_builds_no_gpu_environment(tmp_path, data_dir, monkeypatch):
    builds = _fake_builds(monkeypatch)
    environment = {"strategy": "tarball", "gpu": {"strategy": "tarball", "cuda": True}}
    run = _build(tmp_path, data_dir, environment, resources={"default": {"cpus": 1}})
    assert builds == [()]
    assert run.manifest.gpu_environment is None and run.manifest.requirement_environments == ()
    assert "ENVFILES_" not in run.paths.submit_file.read_text()


def test_old_manifests_without_a_gpu_environment_still_load(tmp_path, data_dir):
    run = _build(tmp_path, data_dir, {"strategy": "shared"}, resources={"default": {"cpus": 1}})
    raw = json.loads(run.paths.manifest.read_text())
    for key in ("gpu_environment", "requirement_environments"):
        del raw[key]
    run.paths.manifest.write_text(json.dumps(raw))
    old = RunManifest.read(run.paths.manifest)
    assert old.gpu_environment is None and old.environment_for(0) == old.environment


def test_dry_run_shows_each_environment_and_the_total(monkeypatch) -> None:
    sizes = {False: EnvSize("tarball", "python3.11-k.tar.zst", 600_000_000, True)}
    sizes[True] = EnvSize("tarball", "python3.11-cuda-c.tar.zst", 3_000_000_000, False)
    monkeypatch.setattr(
        environments, "environment_size", lambda env, cache_dir=None: sizes[env.cuda]
    )
    spec = EnvironmentSpec(gpu=EnvironmentSpec(cuda=True))
    lines = environment_lines(spec, [CPU, CPU, GPU])
    assert lines[0] == "environment: tarball, python3.11-k.tar.zst, 600 MB (in the cache)"
    assert lines[1].startswith(" * submit node  600 MB per job, 1.2 GB for 2 jobs")
    gpu = next(line for line in lines if line.startswith("environment.gpu: "))
    assert gpu.startswith("environment.gpu: tarball, python3.11-cuda-c.tar.zst, 3.0 GB (estimated")
    assert f"CUDA wheels {environments._size(cuda_bytes_estimate())} of it" in gpu
    assert " * submit node  3.0 GB per job, 3.0 GB for 1 jobs, all from the submit node" in lines
    assert lines[-2] == "environments in all: 4.2 GB for 3 jobs"
    assert lines[-1].startswith("warning: 1 GPU jobs ask for less than 8000 MB of disk (disk_mb")
    roomy = environment_lines(spec, [CPU, Resources(gpus=1, disk_mb=9000)])
    assert roomy[-1] == "environments in all: 3.6 GB for 2 jobs"
    # GPU jobs in a CPU tarball: said, not silent
    warned = environment_lines(EnvironmentSpec(), [GPU, CPU])
    assert warned[-1].startswith("warning: 1 jobs ask for GPUs but get the tarball environment")
    monkeypatch.undo()  # containers: nothing to size
    gpu_image = EnvironmentSpec("container", GPU_IMAGE)
    containers = EnvironmentSpec("container", CPU_IMAGE, gpu=gpu_image)
    lines = environment_lines(containers, [CPU, GPU])
    assert lines[:2] == [
        f"environment: container {CPU_IMAGE} (the image is pulled by each execute node): "
        "nothing transferred",
        f"environment.gpu: container {GPU_IMAGE} (the image is pulled by each execute node): "
        "nothing transferred",
    ]


def test_the_cuda_estimate_is_a_measured_figure() -> None:
    assert all(size > 1_000_000_000 for size in CUDA_BYTES.values())
    newest = CUDA_BYTES[max(CUDA_BYTES, key=environments._version_tuple)]
    assert cuda_bytes_estimate("9.99.0") == newest


def test_fake_cuda_tarball_is_a_real_archive(tmp_path, monkeypatch) -> None:
    """The fake stands in for the real build in the tests above: keep it a valid tarball."""
    _fake_builds(monkeypatch)
    out = tmp_path / "t.tar.zst"
    environments._build_tarball(out, [], ("nvidia-x",))
    raw = subprocess.run(["zstd", "-dc", str(out)], capture_output=True, check=True).stdout
    (tmp_path / "t.tar").write_bytes(raw)
    with tarfile.open(tmp_path / "t.tar") as tar:
        assert "python/extra" in tar.getnames()


@pytest.mark.condor
@pytest.mark.usefixtures("condor_pool")
def test_a_cpu_image_and_a_gpu_image_pass_condor_submit_dry_run(tmp_path, data_dir) -> None:
    """A CPU model and a GPU model type with their own container images: condor_submit reads
    the run folder as it is, and each job ad has its own image, DMSWEEP_ENV and GPU request."""
    environment = {
        "strategy": "container",
        "image": CPU_IMAGE,
        "gpu": {"strategy": "container", "image": GPU_IMAGE},
    }
    seen = _ads_by_model(_build(tmp_path, data_dir, environment))
    assert set(seen) == {"linear", "fc"}
    assert f'ContainerImage="{CPU_IMAGE}"' in seen["linear"]
    assert 'Environment="DMSWEEP_ENV=cpu"' in seen["linear"]
    assert re.search(r"RequestGPUs ?= ?0", seen["linear"]), seen["linear"]
    assert f'ContainerImage="{GPU_IMAGE}"' in seen["fc"]
    assert 'Environment="DMSWEEP_ENV=gpu"' in seen["fc"]
    assert re.search(r"RequestGPUs ?= ?1", seen["fc"]), seen["fc"]


def _ads_by_model(run: Run) -> dict[str, str]:
    """condor_submit -dry-run's job ad of each model type's (one) batch."""
    from test_condor_sweep import _dry_run

    stdout, ads = _dry_run(run.paths.root)
    assert f"{len(run.queue)} job(s) dry-run" in stdout
    models = {line.batch_id: line.configs[0]["model"] for line in run.queue}
    seen = {}
    for block in ads.split("\n\n"):
        batch = re.search(r'DmsweepBatch="(b\d+)"', block)
        if batch:
            seen[models[batch[1]]] = block
    return seen


@pytest.mark.condor
@pytest.mark.usefixtures("condor_pool")
def test_each_job_transfers_only_its_own_tarball(tmp_path, data_dir, monkeypatch) -> None:
    _fake_builds(monkeypatch)
    environment = {"strategy": "tarball", "gpu": {"strategy": "tarball", "cuda": True}}
    run = _build(tmp_path, data_dir, environment, resources=GPU_FC | {"default": {"cpus": 1}})
    cpu, gpu = run.manifest.environment, run.manifest.gpu_environment
    assert gpu is not None
    seen = _ads_by_model(run)
    assert f'TransferInput="code,data,env/{cpu.file_name}"' in seen["linear"]
    assert f'TransferInput="code,data,env/{gpu.file_name}"' in seen["fc"]
    assert "ContainerImage" not in seen["fc"] and re.search(r"RequestGPUs ?= ?1", seen["fc"])


def test_preflight_runs_one_job_per_environment(tmp_path, data_dir, monkeypatch) -> None:
    """Each environment's preflight job trains the first config of its own model types; a
    report left by the first job does not pass the second."""
    from dmsweep.core.events import Event
    from dmsweep.errors import SchedulerError
    from dmsweep.run_builder import condor
    from dmsweep.run_builder.submit import run_preflight

    _fake_builds(monkeypatch)
    environment = {"strategy": "tarball", "gpu": {"strategy": "tarball", "cuda": True}}
    run = _build(tmp_path, data_dir, environment)
    cpu_job, gpu_job = run.preflight_lines()
    assert [c["model"] for c in cpu_job.configs] == ["linear"] and cpu_job.gpus == 0
    assert [c["model"] for c in gpu_job.configs] == ["fc"] and (gpu_job.gpus, gpu_job.req) == (1, 1)
    submitted: list[int] = []

    def submit(root, lines, preflight=False, credentials=None):
        submitted.append(lines[0].req)
        if len(submitted) == 1:  # only the first job leaves a report
            run.paths.preflight.mkdir(exist_ok=True)
            (run.paths.preflight / "preflight.json").write_text("{}")
        return len(submitted)

    monkeypatch.setattr(condor, "submit", submit)
    monkeypatch.setattr(
        condor,
        "wait_for",
        lambda log, cluster, timeout_s: Event(cluster, 0, "terminated", 0.0, {"ReturnValue": 0}),
    )
    with pytest.raises(SchedulerError, match=r"preflight job 2\.0 failed"):
        run_preflight(run, timeout_s=1, log=lambda line: None)
    assert submitted == [0, 1]
    one_env = _build(tmp_path, data_dir, {"strategy": "shared"}, name="one")
    assert len(one_env.preflight_lines()) == 1


def test_run_builder_dry_run_prints_the_cuda_estimate(tmp_path, data_dir, monkeypatch, capsys):
    from dmsweep.run_builder.cli import main

    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "cache"))  # nothing built there
    environment = {"strategy": "tarball", "gpu": {"strategy": "tarball", "cuda": True}}
    resources = GPU_FC | {"fc": {"gpus": 1, "disk_mb": 9000}}
    spec = write_spec(tmp_path / "s.yaml", environment=environment, resources=resources)
    assert main([str(spec), "--dry-run", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    cpu = next(line for line in out if line.startswith("environment: tarball, python3"))
    gpu = next(line for line in out if line.startswith("environment.gpu: tarball, python3"))
    assert "-cuda-" not in cpu and "(estimated: not built yet)" in cpu
    assert "-cuda-" in gpu and "estimated: not built yet; CUDA wheels 2.4 GB of it" in gpu
    assert out[-1] == next(line for line in out if line.startswith("environments in all: "))
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.zst"))


def test_a_staged_gpu_environment_has_its_own_upload_command(tmp_path, data_dir, monkeypatch):
    _fake_builds(monkeypatch)
    gpu = {"strategy": "tarball", "cuda": True, "staging": "https://stage.example.org/gpu"}
    run = _build(tmp_path, data_dir, {"strategy": "tarball", "gpu": gpu})
    cpu, staged = run.manifest.environment, run.manifest.gpu_environment
    assert staged is not None and cpu.staged is None
    assert staged.staged == f"https://stage.example.org/gpu/{staged.file_name}"
    submit = run.paths.submit_file.read_text()
    assert f"ENVFILES_0 = , env/{cpu.file_name}\n" in submit
    assert f"ENVFILES_1 = , {staged.staged}\n" in submit
    readme = (run.paths.root / "README.md").read_text()
    assert f"curl --fail --upload-file env/{staged.file_name} {staged.staged}" in readme


@pytest.mark.slow  # two real trainings (TensorFlow's import is most of it)
def test_run_local_runs_each_batch_in_its_own_environment(tmp_path, data_dir, monkeypatch):
    from dmsweep.core.results import is_valid_result
    from dmsweep.run_builder.local import run_batch

    _fake_builds(monkeypatch)
    environment = {"strategy": "tarball", "gpu": {"strategy": "tarball", "cuda": True}}
    spec = write_spec(
        tmp_path / "tiny.yaml",
        environment=environment,
        resources=GPU_FC,
        replicates={"seed": [1]},
        trainings_per_job=1,
    )
    options = BuildOptions(
        runs_dir=tmp_path / "runs", data_dir=data_dir, cache_dir=tmp_path / "cache", name="l"
    )
    run = Run.open(build_run(spec, options))
    for line in run.queue:
        outcome = run_batch(run, line)
        log = outcome.log.read_text()
        assert outcome.returncode == 0, log
        which, other = ("cuda", "cpu") if line.configs[0]["model"] == "fc" else ("cpu", "cuda")
        assert f"fake {which} environment" in log and f"fake {other} environment" not in log
        (job_id,) = line.job_ids
        assert is_valid_result(run.paths.results / job_id, job_id)
