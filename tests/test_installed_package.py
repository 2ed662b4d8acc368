"""dmsweep installed as a wheel (not editable, not from a checkout) builds and runs a sweep:
templates and dataset cards are package data, nothing is looked up through the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The project's wheel, built offline and installed alone into a folder of its own; the
    test environment provides its dependencies."""
    root = tmp_path_factory.mktemp("installed")
    pip = [sys.executable, "-m", "pip", "-q"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DMSWEEP_TEMPLATES")}
    wheel_args = ["wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "wheels")]
    _run([*pip, *wheel_args, str(REPO)], root, env)
    (wheel,) = (root / "wheels").glob("dmsweep-*.whl")
    _run([*pip, "install", "--no-deps", "--target", str(root / "site"), str(wheel)], root, env)
    return root, env | {"PYTHONPATH": str(root / "site")}


def test_the_wheel_carries_templates_and_cards(installed) -> None:
    root, env = installed
    code = "import dmsweep; print(dmsweep.__file__)"
    package = Path(_run([sys.executable, "-c", code], root, env).strip()).parent
    assert package == root / "site" / "dmsweep", "the installed copy, not the checkout"
    templates = package / "run_builder" / "templates"
    assert {p.name for p in templates.glob("*.j2")} == {
        "sweep.sub.j2",
        "run_job.sh.j2",
        "README.md.j2",
    }
    assert len(list((templates / "env").glob("*.sh.j2"))) == 4
    assert (package / "data" / "cards" / "avgfp.yaml").is_file()


def test_the_demo_sweep_builds_and_runs_from_the_installed_package(installed, data_dir) -> None:
    root, env = installed
    env = env | {"DMSWEEP_DATA_DIR": str(data_dir)}
    work = root / "elsewhere"
    work.mkdir()
    shutil.copy(REPO / "sweeps" / "demo.yaml", work / "demo.yaml")
    builder = [sys.executable, "-m", "dmsweep.run_builder.cli"]
    run = Path(_run([*builder, "demo.yaml", "-o", "runs"], work, env).splitlines()[-1])
    run = run if run.is_absolute() else work / run
    assert "{{" not in (run / "sweep.sub").read_text()
    _run([*builder, "run-local", str(run), "-j", "2"], work, env)
    metrics = sorted((run / "results").glob("*/metrics.json"))
    assert len(metrics) == 6
    assert all("test" in json.loads(m.read_text())["splits"] for m in metrics)
