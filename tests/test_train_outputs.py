"""The atomic job folder and provenance helpers (no TensorFlow needed)."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import version

import numpy as np

from dmsweep.core.results import FileManifest
from dmsweep.jobfiles import CONFIG, ERROR, MANIFEST, METRICS, TMP_PREFIX
from dmsweep.jobfiles import SPLIT as SPLIT_FILE
from dmsweep.train import provenance
from dmsweep.train.outputs import JobFolder, to_json


def test_folder_appears_only_when_published(tmp_path) -> None:
    folder = JobFolder(tmp_path, "linear-0123456789ab")
    folder.write_config({"model": "linear"})
    folder.write_metrics({"splits": {}})
    assert not (tmp_path / "linear-0123456789ab").exists()
    assert [p.name.startswith(TMP_PREFIX) for p in tmp_path.iterdir()] == [True]
    final = folder.publish()
    folder.discard()  # after publishing: a no-op
    assert final == tmp_path / "linear-0123456789ab"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linear-0123456789ab"]
    assert json.loads((final / CONFIG).read_text())["job_id"] == "linear-0123456789ab"
    manifest = FileManifest.from_json(json.loads((final / MANIFEST).read_text()))
    assert set(manifest.files) == {CONFIG, METRICS}  # manifest.json itself: written last


def test_publish_replaces_an_older_folder(tmp_path) -> None:
    first = JobFolder(tmp_path, "fc-aaaaaaaaaaaa")
    first.write_error(ValueError("boom"), "train")
    first.publish()
    second = JobFolder(tmp_path, "fc-aaaaaaaaaaaa")
    second.write_config({"model": "fc"})
    second.write_metrics({"splits": {}})
    final = second.publish()
    assert not (final / ERROR).exists() and (final / METRICS).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["fc-aaaaaaaaaaaa"]


def test_discard_leaves_nothing(tmp_path) -> None:
    folder = JobFolder(tmp_path, "cnn-aaaaaaaaaaaa")
    folder.write_config({"model": "cnn"})
    folder.discard()
    assert list(tmp_path.iterdir()) == []


def test_error_json_has_the_contract_keys(tmp_path) -> None:
    folder = JobFolder(tmp_path, "gcn-aaaaaaaaaaaa")
    try:
        raise RuntimeError("out of\nmemory")
    except RuntimeError as err:
        folder.write_error(err, "train")
    error = json.loads((folder.publish() / ERROR).read_text())
    assert set(error) == {"job_id", "type", "message", "phase", "traceback_tail", "time"}
    assert error["type"] == "RuntimeError" and error["message"] == "out of memory"
    assert error["phase"] == "train" and "raise RuntimeError" in error["traceback_tail"]


def test_split_file_holds_the_assignment(tmp_path) -> None:
    folder = JobFolder(tmp_path, "linear-bbbbbbbbbbbb")
    folder.write_split(np.array([0, 1, 2, 3, 1], dtype=np.int8))
    with np.load(folder.publish() / SPLIT_FILE) as saved:
        assert saved["assignment"].dtype == np.int8
        assert saved["assignment"].tolist() == [0, 1, 2, 3, 1]


def test_to_json_makes_valid_json() -> None:
    value = {"a": np.float32(1.5), "b": float("nan"), "c": np.int64(3), "d": [np.inf, 2.0]}
    assert to_json(value) == {"a": 1.5, "b": None, "c": 3, "d": [None, 2.0]}


def test_job_ad_gives_condor_ids_and_threads(tmp_path, monkeypatch) -> None:
    ad = tmp_path / ".job.ad"
    ad.write_text('ClusterId = 12\nProcId = 3\nRequestCpus = 1\nOwner = "alice"\n')
    monkeypatch.setenv("_CONDOR_JOB_AD", str(ad))
    monkeypatch.setenv("DMSWEEP_BATCH_ID", "b000003")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert provenance.read_job_ad()["Owner"] == "alice"
    assert provenance.condor_info() == {"cluster": 12, "proc": 3, "batch": "b000003"}
    assert provenance.granted_threads() == 1  # RequestCpus wins over OMP_NUM_THREADS
    assert provenance.granted_threads(override=2) == 2


def test_outside_condor(monkeypatch) -> None:
    for name in ("_CONDOR_JOB_AD", "DMSWEEP_BATCH_ID", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert provenance.condor_info() is None
    assert provenance.granted_threads() is None
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert provenance.granted_threads() == 3


def test_git_commit_of_this_checkout() -> None:
    commit, _ = provenance.git_commit()
    root = provenance.Path(provenance.dmsweep.__file__).resolve().parents[2]
    assert (root / ".git").exists(), "tests run from a git checkout (CI clones the repo)"
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert commit == head


def test_base_provenance_keys() -> None:
    base = provenance.base_provenance(["dmsweep", "train"])
    assert base["command"] == ["dmsweep", "train"]
    assert base["libraries"]["tensorflow"] == version("tensorflow")
    assert {"dmsweep_version", "git_commit", "git_dirty", "host", "python", "platform"} <= set(base)
