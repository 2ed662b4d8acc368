"""`dmsweep train --force` replaces a valid result only with a training that succeeded."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from dmsweep.cli import main
from dmsweep.core.results import is_valid_result

pytestmark = pytest.mark.slow

CONFIG = ["--set", "model=linear", "--set", "split=random", "--set", "max_variants=300"]
CONFIG += ["--set", "max_epochs=1", "--quiet"]


def test_a_failed_retrain_keeps_the_earlier_valid_result(tmp_path, data_dir, capsys) -> None:
    out = tmp_path / "results"
    assert main(["train", *CONFIG, "-o", str(out), "--data-dir", str(data_dir)]) == 0
    (folder,) = out.iterdir()
    before = (folder / "metrics.json").read_bytes()

    broken = tmp_path / "data"  # the same dataset, with its table damaged: loading fails
    shutil.copytree(data_dir, broken, copy_function=os.link)
    (broken / "avgfp" / "avgfp.tsv").unlink()  # a link to the real file: never write through it
    (broken / "avgfp" / "avgfp.tsv").write_text("variant\tscore\nA1G\t0.5\n")
    capsys.readouterr()
    code = main(["train", *CONFIG, "-o", str(out), "--data-dir", str(broken), "--force"])
    assert code == 2  # a data error
    err = capsys.readouterr().err
    assert "checksum mismatch" in err
    assert f"the retrain failed, so the earlier valid result in {folder} is kept" in err
    assert is_valid_result(folder, folder.name)
    assert (folder / "metrics.json").read_bytes() == before
    assert not (folder / "error.json").exists()
    assert [p.name for p in out.iterdir()] == [folder.name], "no temporary folder left"

    assert main(["train", *CONFIG, "-o", str(out), "--data-dir", str(data_dir), "--force"]) == 0
    assert json.loads((folder / "metrics.json").read_bytes())["job_id"] == folder.name
    assert is_valid_result(folder, folder.name)
