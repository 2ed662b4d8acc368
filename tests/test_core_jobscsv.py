"""jobs.csv has one reader: the run builder refuses a damaged job list, the aggregator warns."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmsweep.core.jobscsv import read_jobs_csv
from dmsweep.errors import DmsweepError
from dmsweep.run_builder.cli import main

GOOD = "job_id,batch_id,seed\nlinear-000000000001,b1,1\nfc-000000000002,b2,2\n"


def test_a_good_job_list(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text(GOOD)
    table = read_jobs_csv(path)
    assert table.problems == ()
    assert table.batch_of() == {"linear-000000000001": "b1", "fc-000000000002": "b2"}
    assert table.header == ("job_id", "batch_id", "seed")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (GOOD + "short\n", "1 rows with a wrong number of fields (lines 4)"),
        (GOOD + "linear-000000000001,b9,5\n", "duplicated job ids; the first row of each is used"),
    ],
)
def test_damaged_rows_are_problems(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text(text)
    table = read_jobs_csv(path)
    assert len(table.problems) == 1 and words in table.problems[0]
    assert table.batch_of()["linear-000000000001"] == "b1"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no job_id or batch_id column"),
        ("job_id,x\n", "no batch_id column"),
        (None, "not read"),
    ],
)
def test_an_unusable_job_list_is_an_error(tmp_path: Path, text: str | None, words: str) -> None:
    path = tmp_path / "jobs.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(DmsweepError, match=words):
        read_jobs_csv(path)


def test_the_run_builder_refuses_a_damaged_job_list(tmp_path: Path, data_dir, capsys) -> None:
    from run_specs import write_spec

    from dmsweep.run_builder.folder import BuildOptions, build_run

    spec = write_spec(tmp_path / "tiny.yaml")
    root = build_run(spec, BuildOptions(runs_dir=tmp_path / "runs", data_dir=data_dir, name="r"))
    with open(root / "jobs.csv", "a") as stream:
        stream.write("half a row\n")
    capsys.readouterr()
    assert main(["status", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "wrong number of fields" in err and "rebuild" in err
