"""The tarball and wheelhouse environments pass a real preflight job through the pool.

The preflight job unpacks (or installs) the environment on the execute side, imports every job
package, loads the data and trains one epoch. Environments are built once into the cache
(~/.cache/dmsweep/envs or $DMSWEEP_CACHE_DIR) and reused by every later build.
"""

from __future__ import annotations

import json
import sys

import pytest
from condor_pool import condor_pool  # noqa: F401  (a fixture)
from run_specs import write_spec

from dmsweep.core.results import is_valid_result
from dmsweep.jobfiles import JobPaths
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.submit import run_preflight

pytestmark = [pytest.mark.condor, pytest.mark.slow, pytest.mark.usefixtures("condor_pool")]


@pytest.mark.parametrize("strategy", ["tarball", "wheelhouse"])
def test_environment_passes_preflight_in_the_pool(tmp_path, data_dir, strategy):
    spec = write_spec(
        tmp_path / "env.yaml",
        strategy=strategy,
        models={"linear": {"fixed": {"split": "random", "max_variants": 2000}}},
        replicates={"seed": [1]},
        resources={"default": {"cpus": 1, "memory_mb": 3000, "disk_mb": 8000}},
        submit={"max_idle": 10, "max_materialize": 20},  # throttles the preflight job drops
    )
    options = BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="env")
    run = Run.open(build_run(spec, options))
    env = run.manifest.environment
    (env_file,) = env.files
    linked = run.paths.root / env_file
    assert linked.is_symlink() or linked.stat().st_nlink >= 2  # a link to the cache, not a copy
    assert {"tensorflow", "spektral", "numpy", "pandas"} <= {p.lower() for p in env.packages}

    run_preflight(run, timeout_s=600, log=print)
    report = json.loads((run.paths.preflight / "preflight.json").read_text())
    assert report["imports_s"] > 0 and report["load_data_s"] > 0
    (folder,) = [p for p in run.paths.preflight.iterdir() if p.is_dir()]
    job = JobPaths(folder)
    assert is_valid_result(job.root, job.job_id)
    assert len(job.history.read_text().strip().splitlines()) == 2  # header + one epoch
    python = json.loads(job.provenance.read_text())["python"]
    if strategy == "tarball":  # this machine's interpreter, carried in the tarball
        assert python == sys.version.split()[0]
    else:  # the node's own python3.X, with the wheels installed at job start
        assert python.startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert not list(run.paths.results.iterdir())  # preflight never writes results

    second = build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="b"))
    assert json.loads((second / "manifest.json").read_text())["environment"]["key"] == env.key
