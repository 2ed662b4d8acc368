"""A user's own dataset card, as a new user tries it (issue 7): found in --data-dir, given by
path, copied into run and job folders, AAindex read from beside it, checksums without URLs.

The data are the real avGFP files, hard linked into a data directory of the user's own shape:
`lab/mine/dataset.yaml` (the user's card), `lab/aaindex/pca-19.npy`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from dmsweep.core.queuefile import read_queue
from dmsweep.core.runfiles import RunPaths
from dmsweep.data._files import sha256_of
from dmsweep.data.card import PACKAGED_CARDS
from dmsweep.run_builder.cli import main as run_builder

SPEC = """\
name: mine-sweep
dataset: {dataset}
fixed: {{split: first, max_epochs: 1}}
models: {{linear: {{}}}}
replicates: {{seed: [1, 2]}}
environment: {{strategy: shared}}
"""


def make_lab(root: Path, data_dir: Path) -> Path:
    """`root/lab`: a user's data directory holding one card `mine` and the AAindex table."""
    lab = root / "lab"
    mine = lab / "mine"
    (mine / "splits" / "first").mkdir(parents=True)
    (mine / "splits" / "notes").mkdir()  # a folder that is not a split
    (lab / "aaindex").mkdir()
    for name in ("avgfp.tsv", "avgfp_rosetta_model.pdb"):
        os.link(data_dir / "avgfp" / name, mine / name)
    os.link(data_dir / "aaindex" / "pca-19.npy", lab / "aaindex" / "pca-19.npy")
    rows = {"train": range(0, 300), "tune": range(300, 400), "test": range(400, 500)}
    for part, indices in rows.items():
        (mine / "splits" / "first" / f"{part}.txt").write_text("".join(f"{i}\n" for i in indices))
    packaged = yaml.safe_load((PACKAGED_CARDS / "avgfp.yaml").read_text())
    card = {
        "name": "mine",
        "table": "avgfp.tsv",
        "wild_type": packaged["wild_type"],
        "structure": "avgfp_rosetta_model.pdb",
        "splits": "splits",
        # local files, checksums only: no URL, no base_url (issue 7)
        "files": {"avgfp.tsv": sha256_of(mine / "avgfp.tsv")},
    }
    (mine / "dataset.yaml").write_text(yaml.safe_dump(card))
    return lab


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    """No $DMSWEEP_DATA_DIR, an empty download cache that must stay empty."""
    monkeypatch.delenv("DMSWEEP_DATA_DIR", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(cache))
    return cache


def downloaded(cache: Path) -> list[Path]:
    """What the data cache holds besides the compiled run-folder templates (`templates/`,
    written by the first build of a process whatever the dataset)."""
    return [
        p for p in cache.rglob("*") if p.is_file() and p.relative_to(cache).parts[0] != "templates"
    ]


def write_spec(folder: Path, dataset: str) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(SPEC.format(dataset=dataset))
    return path


def built(capsys, *args: str) -> Path:
    assert run_builder([*args]) == 0, capsys.readouterr().err
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_card_in_the_data_dir_builds_with_data_dir_option(tmp_path, data_dir, offline, capsys):
    """`--data-dir DIR` with `dataset: NAME` at DIR/NAME/dataset.yaml (was: unknown dataset)."""
    lab = make_lab(tmp_path, data_dir)
    spec = write_spec(tmp_path, "mine")
    assert run_builder([str(spec), "--data-dir", str(lab), "--dry-run"]) == 0
    assert "linear            2" in capsys.readouterr().out
    run = built(capsys, str(spec), "--data-dir", str(lab), "-o", str(tmp_path / "runs"))
    assert (run / "data" / "mine" / "dataset.yaml").is_file()
    assert not downloaded(offline)


def test_unknown_split_of_a_user_card_lists_only_real_splits(tmp_path, data_dir, offline, capsys):
    lab = make_lab(tmp_path, data_dir)
    spec = write_spec(tmp_path, "mine")
    spec.write_text(spec.read_text().replace("split: first", "split: frist"))
    assert run_builder([str(spec), "--data-dir", str(lab), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "no split 'frist' in dataset 'mine' (published splits, closest first: first; or" in err
    assert "notes" not in err and len(err.splitlines()) == 1


def test_a_card_path_makes_a_self_contained_run_folder(tmp_path, data_dir, offline, capsys):
    """Jobs name the run folder's own copy of the card, never the original's absolute path;
    the AAindex table comes from beside the card's folder (nothing downloaded, offline)."""
    lab = make_lab(tmp_path, data_dir)
    spec = write_spec(tmp_path, "lab/mine/dataset.yaml")
    run = built(capsys, str(spec), "-o", str(tmp_path / "runs"))
    configs = [c for line in read_queue(RunPaths(run).queue) for c in line.configs]
    assert {c["dataset"] for c in configs} == {"mine"}
    assert str(tmp_path) not in RunPaths(run).queue.read_text()
    copied = run / "data" / "mine" / "dataset.yaml"
    assert copied.read_text() == (lab / "mine" / "dataset.yaml").read_text()
    assert (run / "data" / "aaindex" / "pca-19.npy").is_file()
    assert (run / "data" / "mine" / "splits" / "first" / "test.txt").is_file()
    assert not downloaded(offline)

    shutil.rmtree(lab)  # the original is gone: the run folder still resolves its dataset
    from dmsweep.data.source import DataSource

    source = DataSource.resolve(run / "data")
    card = source.card("mine")
    assert card.folder == run / "data" / "mine"
    assert source.split_names(card) == ("first",)


def test_card_files_without_urls_are_checked_not_downloaded(tmp_path, data_dir):
    from dmsweep.data import load_dataset
    from dmsweep.errors import DataError

    lab = make_lab(tmp_path, data_dir)
    card = lab / "mine" / "dataset.yaml"
    assert len(load_dataset(str(card))) == 54_024
    raw = yaml.safe_load(card.read_text())
    raw["files"] = {"avgfp.tsv": {"sha256": "0" * 64}}
    card.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError, match=r"avgfp.tsv: checksum mismatch: expected sha256:0{64}"):
        load_dataset(str(card))


@pytest.mark.slow
def test_a_job_from_a_card_path_trains_offline_and_predicts_after_the_card_moved(
    tmp_path, data_dir, offline, capsys
):
    """Offline, no data dir: AAindex from beside the card; the job folder keeps the card, so
    predict works once the user's folder is gone; a data error exits 2 with error.json."""
    from dmsweep.cli import main as dmsweep

    lab = make_lab(tmp_path, data_dir)
    card = lab / "mine" / "dataset.yaml"
    out = tmp_path / "results"
    common = ["train", "-o", str(out), "--quiet", "--set", f"dataset={card}"]
    assert dmsweep([*common, "--set", "split=first", "--set", "max_epochs=1"]) == 0
    (job,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert (job / "dataset.yaml").read_text() == card.read_text()
    assert not downloaded(offline)
    capsys.readouterr()

    lab.rename(tmp_path / "moved")
    assert dmsweep(["predict", str(job), "A108D,N144D"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith('"A108D,N144D",')

    moved = tmp_path / "moved" / "mine" / "dataset.yaml"
    raw = yaml.safe_load(moved.read_text())
    raw["files"] = {"avgfp.tsv": "f" * 64}
    moved.write_text(yaml.safe_dump(raw))
    again = ["train", "-o", str(out), "--quiet", "--set", f"dataset={moved}", "--set", "seed=9"]
    assert dmsweep([*again, "--set", "split=first", "--set", "max_epochs=1"]) == 2
    failed = [p for p in out.iterdir() if (p / "error.json").is_file()]
    assert len(failed) == 1
    error = json.loads((failed[0] / "error.json").read_text())
    assert error["type"] == "DataError" and "checksum mismatch" in error["message"]


def test_run_builder_output_that_is_a_file_is_one_line(tmp_path, data_dir, capsys):
    spec = write_spec(tmp_path, "avgfp")
    spec.write_text(spec.read_text().replace("split: first", "split: main"))
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    assert run_builder([str(spec), "-o", str(blocker), "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert f"-o {blocker}: not a folder" in err and err.count("\n") == 1
    assert blocker.read_text().startswith("a file")
