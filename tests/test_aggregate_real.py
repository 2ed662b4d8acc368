"""`aggregate` on real job folders: trained by `dmsweep train`, and run through HTCondor.

Slow: real TensorFlow trainings on 2,000 avGFP variants. The condor test needs the personal
pool (`scripts/personal-condor.sh start`, as CI does).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from condor_pool import condor_pool  # noqa: F401  (a fixture)
from test_aggregate_notebook import run_notebook

CONFIGS = [
    {"model": "linear", "learning_rate": 1e-3, "seed": 1},
    {"model": "linear", "learning_rate": 1e-3, "seed": 2},
    {"model": "linear", "learning_rate": 1e-4, "seed": 1},
    {"model": "fc", "units": 8, "layers": 1, "learning_rate": 1e-3, "seed": 1},
    {"model": "fc", "units": 8, "layers": 1, "learning_rate": 1e-3, "seed": 2},
]
COMMON = {"split": "random", "max_variants": 2000, "max_epochs": 3, "batch_size": 64}


def console(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@pytest.fixture(scope="module")
def real_results(tmp_path_factory, data_dir) -> Path:
    root = tmp_path_factory.mktemp("real")
    jobs = root / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({**COMMON, **c}) + "\n" for c in CONFIGS))
    command = [console("dmsweep"), "train", "--config", str(jobs), "-o", str(root / "results")]
    done = subprocess.run(
        [*command, "--data-dir", str(data_dir), "--quiet"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "results"


@pytest.mark.slow
def test_cli_and_notebook_on_real_trainings(real_results: Path, monkeypatch) -> None:
    done = subprocess.run([console("aggregate"), str(real_results)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "5/5 trainings done" in done.stdout
    out = real_results.parent / "summary"
    assert done.stdout.splitlines()[-1].startswith(f"summary: {out}")
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 5 and set(summary["model"]) == {"linear", "fc"}
    assert summary["test_n"].eq(200).all() and summary["epochs_run"].le(3).all()
    assert summary["encoding"].eq("one_hot+aa_index").all()
    assert summary["host"].notna().all() and summary["git_commit"].notna().any()
    best = pd.read_csv(out / "best.csv").set_index("model")
    assert best.at["linear", "n_replicates"] in (1, 2)
    assert (Path(best.at["fc", "folder"]) / "predictions.csv").is_file()
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"model_comparison.png", "predicted_vs_true.svg", "training_curves.png"} <= plots
    assert "effects_linear.png" in plots  # learning rate was swept for linear
    assert "effects_fc.png" not in plots  # nothing was swept for fc
    assert (out / "report.html").stat().st_size > 10_000

    text = run_notebook(out / "summary.csv", monkeypatch)
    assert "model type:" in text and "shared test variants" in text


@pytest.mark.slow
@pytest.mark.condor
@pytest.mark.usefixtures("condor_pool")
def test_run_folder_through_htcondor(tmp_path: Path, data_dir, monkeypatch) -> None:
    """A real run folder: jobs.csv, submissions.json and the event log join the summary."""
    from run_specs import write_spec

    from dmsweep.run_builder.folder import BuildOptions, build_run
    from dmsweep.run_builder.run import Run
    from dmsweep.run_builder.status import run_status
    from dmsweep.run_builder.submit import submit_run

    monkeypatch.setenv("DMSWEEP_DATA_DIR", str(data_dir))
    spec = write_spec(tmp_path / "tiny.yaml")
    root = build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="agg"))
    run = Run.open(root)
    submit_run(run, preflight=False)
    deadline = time.monotonic() + 600
    while not run_status(run).finished:
        assert time.monotonic() < deadline, "the sweep did not finish in 10 minutes"
        time.sleep(3)

    done = subprocess.run(
        [console("aggregate"), str(root), "--no-plots"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    n = len(run.batch_of)
    assert f"{n}/{n} trainings done" in done.stdout
    summary = pd.read_csv(root / "summary" / "summary.csv")
    assert len(summary) == n
    assert set(summary["batch_id"]) == set(run.batch_of.values())
    assert summary["condor_state"].eq("terminated").all()
    assert summary["condor_exit_code"].eq(0).all()
    assert summary["condor_memory_mb"].gt(0).all() and summary["condor_host"].notna().all()
    assert summary["condor_wall_time_s"].gt(0).all()
    assert pd.read_csv(root / "summary" / "failures.csv").empty
