"""Job folders trained before the stack upgrade (TensorFlow 2.15.1, Keras 2.15) still load in
`dmsweep predict` on the current stack, and score their own test variants as they did then.

The fixtures in tests/fixtures/tf215 were trained at commit 1f3c414 with
`dmsweep train --set split=random --set max_variants=500 --set max_epochs=2` (a linear model, and
a one-layer GCN with attention pooling); their predictions.csv holds the TF 2.15 scores.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dmsweep._tf import CUINIT_FAILED, START_UP_NOISE

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tf215"
FOLDERS = sorted(FIXTURES.iterdir())


def _predict(folder: Path, data_dir: Path, out: Path, *extra: str) -> dict[str, list[str]]:
    """`dmsweep predict` as a user runs it, on the folder's recorded test variants."""
    command = [sys.executable, "-m", "dmsweep.cli", "predict", str(folder)]
    command += ["--file", str(folder / "predictions.csv"), "-o", str(out)]
    command += ["--data-dir", str(data_dir), *extra]
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=600)
    assert done.returncode == 0, done.stderr
    # on this CPU, GCN ops log one oneDNN line ("DT_INT32 only on platforms with AVX-512") at
    # run time: not start-up noise, and left alone
    noise = [
        s for s in done.stderr.splitlines() if START_UP_NOISE.search(s) or CUINIT_FAILED.search(s)
    ]
    assert noise == [], "TensorFlow start-up noise reached the user"
    with open(out, newline="") as stream:
        return {row["variant"]: list(row.values())[1:] for row in csv.DictReader(stream)}


def _recorded(folder: Path) -> dict[str, float]:
    with open(folder / "predictions.csv", newline="") as stream:
        return {row["variant"]: float(row["predicted_score"]) for row in csv.DictReader(stream)}


def test_the_fixtures_come_from_the_old_stack() -> None:
    assert [f.name.split("-")[0] for f in FOLDERS] == ["gcn", "linear"]
    for folder in FOLDERS:
        libraries = json.loads((folder / "provenance.json").read_text())["libraries"]
        assert libraries["tensorflow"] == "2.15.1"
        assert libraries["keras"] == "2.15.0"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_old_model_predicts_what_it_predicted_then(folder, data_dir, tmp_path) -> None:
    now = _predict(folder, data_dir, tmp_path / "now.csv")
    then = _recorded(folder)
    assert list(now) == list(then)
    worst = max(abs(float(now[v][0]) - then[v]) for v in then)
    assert worst < 1e-5, f"{folder.name}: predictions moved by up to {worst:.2g}"


def test_old_attention_model_still_explains(data_dir, tmp_path) -> None:
    (gcn,) = (f for f in FOLDERS if f.name.startswith("gcn"))
    rows = _predict(gcn, data_dir, tmp_path / "attention.csv", "--attention")
    weights = [float(w) for w in next(iter(rows.values()))[1:]]
    assert len(weights) == 237  # one per residue of avGFP
    assert sum(weights) == pytest.approx(1.0, abs=1e-3)
