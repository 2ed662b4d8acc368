"""`dmsweep serve` without a server: what a TARGET names, settings, requests parsed like
`dmsweep predict`, and the micro-batcher sharing model calls. No TensorFlow is loaded."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dmsweep.data import encode_variants, looks_like_sequence, sequence_variant
from dmsweep.errors import ConfigError, JobFolderError, VariantError
from dmsweep.serve.batching import MicroBatcher
from dmsweep.serve.models import (
    InvalidInstance,
    ModelSource,
    ServedModel,
    read_best_csv,
    resolve_targets,
)
from dmsweep.serve.settings import ServeSettings, byte_size, is_loopback, read_token

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tf215"
LINEAR = FIXTURES / "linear-fdf24cb2d2b1"
GCN = FIXTURES / "gcn-eaa557fe34e0"


@pytest.fixture(scope="module")
def linear() -> ServedModel:
    return ServedModel(ModelSource(LINEAR.name, LINEAR))


# ------------------------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("text", "value"),
    [("10MB", 10_000_000), ("512kB", 512_000), ("1MiB", 1 << 20), ("1000", 1000), ("7 b", 7)],
)
def test_byte_sizes(text: str, value: int) -> None:
    assert byte_size(text) == value


@pytest.mark.parametrize("text", ["", "ten", "-1", "0", "5 TB"])
def test_bad_byte_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        byte_size(text)


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "::", "example.org"))


def test_a_public_host_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--host 0\.0\.0\.0: binding beyond loopback needs"):
        read_token(None, "0.0.0.0")
    assert read_token(None, "127.0.0.1") is None
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    assert read_token(token, "0.0.0.0") == "s3cret"
    token.write_text("two words\n")
    with pytest.raises(ConfigError, match="expected one token"):
        read_token(token, "0.0.0.0")
    with pytest.raises(ConfigError, match="cannot read"):
        read_token(tmp_path / "absent", "0.0.0.0")


def test_settings_travel_to_workers_as_json() -> None:
    settings = ServeSettings(folders=("/a/b",), names=("b",), port=9, token="t", workers=2)
    assert ServeSettings.from_json(settings.to_json()) == settings
    with pytest.raises(ConfigError, match="DMSWEEP_SERVE_SETTINGS"):
        ServeSettings.from_json('{"folders": []}')


# ----------------------------------------------------------------------------- what is served


def _best_csv(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["model,job_id,folder,n_replicates,tune_mse_mean"]
    lines += [f"{m},{j},{f},3,0.5" for m, j, f in rows]
    (folder / "best.csv").write_text("\n".join(lines) + "\n")
    return folder / "best.csv"


def test_best_reads_the_summary_of_a_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(LINEAR, run / "results" / LINEAR.name)
    _best_csv(run / "summary", [("linear", LINEAR.name, str(run / "results" / LINEAR.name))])
    for target in (run, run / "summary"):
        (source,) = resolve_targets([target], best="linear")
        assert source == ModelSource("best-linear", run / "results" / LINEAR.name)


def test_best_finds_a_moved_run_by_job_id(tmp_path: Path) -> None:
    run = tmp_path / "moved"
    shutil.copytree(LINEAR, run / "results" / LINEAR.name)
    _best_csv(run / "summary", [("linear", LINEAR.name, "/elsewhere/results/" + LINEAR.name)])
    (source,) = resolve_targets([run], best="linear")
    assert source.folder == run / "results" / LINEAR.name


def test_best_errors_name_the_file(tmp_path: Path) -> None:
    best = _best_csv(tmp_path / "summary", [("cnn", "cnn-0123456789ab", "/x")])
    with pytest.raises(
        ConfigError, match=r"best.csv: no row for --best linear \(model types: cnn\)"
    ):
        resolve_targets([tmp_path / "summary"], best="linear")
    with pytest.raises(JobFolderError, match="job folder of cnn-0123456789ab not found"):
        resolve_targets([tmp_path], best="cnn")
    best.write_text("model,folder\nlinear,/x\n")
    with pytest.raises(JobFolderError, match="missing column"):
        read_best_csv(best)
    with pytest.raises(JobFolderError, match=r"no best\.csv here"):
        resolve_targets([tmp_path / "nothing"], best="cnn")


def test_a_model_is_served_once(tmp_path: Path) -> None:
    assert [s.name for s in resolve_targets([LINEAR, GCN], best=None)] == [LINEAR.name, GCN.name]
    with pytest.raises(ConfigError, match="given twice"):
        resolve_targets([LINEAR, LINEAR], best=None)


def test_metadata_comes_from_the_typed_records(linear: ServedModel) -> None:
    info = linear.info
    assert (info.job_id, info.model_type, info.dataset, info.offset) == (
        LINEAR.name,
        "linear",
        "avgfp",
        0,
    )
    assert len(info.wild_type) == 237 and not info.attention
    assert set(info.test_metrics) >= {"mse", "pearson", "spearman", "r2", "n"}
    assert info.git_commit and info.dmsweep_version
    assert info.data_files["avgfp.tsv"].startswith("sha256:")
    gcn = ServedModel(ModelSource("g", GCN))
    assert gcn.info.attention and gcn.info.task == "variant_regression"


def test_a_folder_that_cannot_predict_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / LINEAR.name
    shutil.copytree(LINEAR, broken)
    (broken / "model" / "model.keras").write_bytes(b"not a model")
    with pytest.raises(JobFolderError):
        ServedModel(ModelSource(broken.name, broken))


# --------------------------------------------------------------------- instances like predict


def test_instances_are_read_like_predict(linear: ServedModel) -> None:
    codes = linear.task.parse(["A108D,N144D", "_wt", ""])
    wt = linear.info.wild_type
    assert np.array_equal(codes, encode_variants(["A108D,N144D", "_wt", "_wt"], wt))


@pytest.mark.parametrize(
    ("instances", "index", "problem"),
    [
        (["_wt", "A108X"], 1, "request, instance 1: A108X: unknown amino acid 'X'"),
        (["A108D,A108D", "K3Y"], 0, "instance 0: A108D,A108D: position 108 is mutated more"),
        (["_wt", "A108D", "Q"], 2, "instance 2: a sequence of 1 residues: expected 237"),
        (["G1000A"], 0, "position 1000 is out of range (0..236)"),
        (["_wt", "A108D N144D"], 1, "bad syntax in 'A108D N144D'"),
    ],
)
def test_a_bad_instance_is_named_by_index(
    linear: ServedModel, instances: list[str], index: int, problem: str
) -> None:
    with pytest.raises(InvalidInstance) as caught:
        linear.task.parse(instances)
    assert caught.value.index == index
    assert problem in str(caught.value)


def test_a_full_sequence_is_its_mutations(linear: ServedModel) -> None:
    wt = linear.info.wild_type
    mutant = wt[:108] + "D" + wt[109:144] + "d" + wt[145:]
    assert looks_like_sequence(mutant) and not looks_like_sequence("A108D")
    assert not looks_like_sequence("_wt") and not looks_like_sequence("")
    assert sequence_variant(mutant, wt) == "A108D,N144D"
    assert sequence_variant(wt, wt) == "_wt"
    assert sequence_variant(wt[:-1] + "*", wt, offset=1) == "K237*"
    with pytest.raises(VariantError, match="unknown amino acid"):
        sequence_variant(wt[:-1] + "B", wt)
    assert np.array_equal(linear.task.parse([mutant]), linear.task.parse(["A108D,N144D"]))


# -------------------------------------------------------------------------------- the batcher


def test_concurrent_requests_share_model_calls() -> None:
    calls: list[int] = []

    def compute(rows: np.ndarray, batch_size: int) -> np.ndarray:
        calls.append(len(rows))
        time.sleep(0.02)  # a slow model: requests pile up meanwhile
        return rows[:, 0].astype(np.float32) * 2

    batcher = MicroBatcher(compute, batch_size=64, max_wait=0.01)
    results: dict[int, np.ndarray] = {}

    def client(i: int) -> None:
        results[i] = batcher.submit(np.full((2, 3), i, dtype=np.int8)).result(timeout=10)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    assert all(np.array_equal(results[i], [2 * i, 2 * i]) for i in range(32))
    assert sum(calls) == 64 and len(calls) < 32  # shared calls, every row scored once
    assert max(calls) <= 64


def test_a_failed_call_reaches_every_request() -> None:
    def compute(rows: np.ndarray, batch_size: int) -> np.ndarray:
        raise RuntimeError("model broke")

    batcher = MicroBatcher(compute, batch_size=8)
    future = batcher.submit(np.zeros((1, 3), dtype=np.int8))
    with pytest.raises(RuntimeError, match="model broke"):
        future.result(timeout=10)
    batcher.close()


# ---------------------------------------------------------------------------- the command line


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "dmsweep.cli", "serve", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_a_public_host_without_a_token_is_refused_in_one_line() -> None:
    done = _serve(str(LINEAR), "--host", "0.0.0.0")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("dmsweep serve: error: --host 0.0.0.0: binding beyond loopback")


def test_a_bad_target_is_one_line(tmp_path: Path) -> None:
    done = _serve(str(tmp_path / "absent"))
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
    assert "job folder not found" in done.stderr
    done = _serve(str(tmp_path), "--best", "linear")
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
    assert "no best.csv here" in done.stderr


def test_a_model_that_cannot_load_stops_the_server(linear: ServedModel, monkeypatch) -> None:
    """Readiness never turns on; the failure is one log line and the server is told to stop
    (`dmsweep serve` then exits 2)."""
    from dmsweep.serve.app import ServerState, _load

    def broken() -> None:
        raise JobFolderError("model.keras: cannot load the model: truncated")

    monkeypatch.setattr(linear, "load", broken)
    stopped = []
    state = ServerState(ServeSettings(folders=(str(LINEAR),), names=("m",)), {"m": linear})
    _load(state, lambda: stopped.append(True))
    assert stopped == [True] and not state.ready.is_set()
    assert state.failed == "model.keras: cannot load the model: truncated"
