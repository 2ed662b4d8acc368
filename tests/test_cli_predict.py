"""`dmsweep predict`: variants from the command line or a file, CSV out, one-line errors."""

from __future__ import annotations

import csv
import io

import pytest

from dmsweep.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jobs(tmp_path_factory, data_dir):
    """A linear job and an attention GCN job, trained through the CLI."""
    out = tmp_path_factory.mktemp("results")
    common = ["--set", "split=random", "--set", "max_variants=500", "--set", "max_epochs=1"]
    folders = {}
    for name, extra in [
        ("linear", ["--set", "model=linear"]),
        ("gcn", ["--set", "model=gcn", "--set", "layers=1", "--set", "filters=4"]),
    ]:
        if name == "gcn":
            extra += ["--set", "pooling=attention", "--set", "dense_units=8"]
        args = ["train", "-o", str(out), "--data-dir", str(data_dir), "--quiet"]
        assert main([*args, *common, *extra]) == 0
        folders[name] = sorted(out.glob(f"{name}-*"))[0]
    return folders


def run(args, capsys):
    code = main(["predict", *args])
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(text):
    return list(csv.reader(io.StringIO(text)))


def test_variants_on_the_command_line(jobs, data_dir, capsys) -> None:
    code, out, err = run(
        [str(jobs["linear"]), "A108D,N144D", "Y141N;_wt", "--data-dir", str(data_dir)], capsys
    )
    assert code == 0, err
    rows = rows_of(out)
    assert rows[0] == ["variant", "predicted_score"]
    assert [r[0] for r in rows[1:]] == ["A108D,N144D", "Y141N", "_wt"]
    assert all(float(r[1]) == float(r[1]) for r in rows[1:])


def test_variants_from_files(jobs, data_dir, tmp_path, capsys) -> None:
    table = tmp_path / "variants.csv"
    table.write_text('id,variant\n1,"A108D,N144D"\n2,Y141N\n')
    listing = tmp_path / "variants.txt"
    listing.write_text("A108D,N144D\nY141N\n")
    target = tmp_path / "out" / "scores.csv"
    for source in (table, listing):
        args = [str(jobs["linear"]), "--file", str(source), "-o", str(target)]
        code, out, err = run([*args, "--data-dir", str(data_dir)], capsys)
        assert code == 0 and out == "", err
        rows = rows_of(target.read_text())
        assert [r[0] for r in rows] == ["variant", "A108D,N144D", "Y141N"]


def test_attention_columns(jobs, data_dir, capsys) -> None:
    args = [str(jobs["gcn"]), "A108D", "--attention", "--data-dir", str(data_dir)]
    code, out, err = run(args, capsys)
    assert code == 0, err
    header, row = rows_of(out)
    assert header[:4] == ["variant", "predicted_score", "attention_S0", "attention_K1"]
    assert len(header) == 2 + 237
    assert sum(float(v) for v in row[2:]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("variants", "words"),
    [
        (["A108D", "Q3P"], "command line, variant 2: Q3P: position 3 is E in the wild type"),
        (["X1Y"], "unknown amino acid 'X'"),
        (["A1000D"], "position 1000 is out of range (0..236)"),
        (["A108D,A108E"], "is mutated more than once"),
        (["A108"], "bad syntax"),
    ],
)
def test_invalid_variants_one_line_exit_2(jobs, data_dir, capsys, variants, words) -> None:
    code, out, err = run([str(jobs["linear"]), *variants, "--data-dir", str(data_dir)], capsys)
    assert code == 2 and out == ""
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_invalid_variant_in_a_file_names_the_line(jobs, data_dir, tmp_path, capsys) -> None:
    listing = tmp_path / "v.txt"
    listing.write_text("A108D\nY141N\nQ3P\n")
    code, _, err = run(
        [str(jobs["linear"]), "--file", str(listing), "--data-dir", str(data_dir)], capsys
    )
    assert code == 2 and f"{listing}, line 3: Q3P" in err
    table = tmp_path / "v.csv"
    table.write_text("name,score\nA108D,1\n")
    code, _, err = run(
        [str(jobs["linear"]), "--file", str(table), "--data-dir", str(data_dir)], capsys
    )
    assert code == 2 and "missing column 'variant'" in err


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("v.txt", "variant\nK131R,L133P\n", "line 2: 2 fields, the header has 1"),
        ("v.csv", "variant\nA108D\nK131R,L133P,Y141N\n", "line 3: 3 fields, the header has 1"),
        ("v.csv", "variant,note\nK131R,L133P,x\n", "line 2: 3 fields, the header has 2"),
        ("v.txt", "A108D\nK131R L133P\n", "line 2"),
        ("v.txt", "A108D\nK131R;L133P\n", "line 2"),
    ],
)
def test_an_ambiguous_file_is_refused_naming_the_line(
    jobs, data_dir, tmp_path, capsys, name, text, words
) -> None:
    """Each line must be exactly one variant: an unquoted comma-joined variant under a header
    was scored as its first mutation only."""
    given = tmp_path / name
    given.write_text(text)
    code, out, err = run(
        [str(jobs["linear"]), "--file", str(given), "--data-dir", str(data_dir)], capsys
    )
    assert code == 2 and out == "", err
    assert f"{given}, {words}" in err and err.count("\n") == 1


def test_job_folder_errors(jobs, data_dir, tmp_path, capsys) -> None:
    code, _, err = run([str(tmp_path / "nope"), "A108D"], capsys)
    assert code == 2 and "job folder not found" in err
    code, _, err = run(
        [str(jobs["linear"]), "A108D", "--attention", "--data-dir", str(data_dir)], capsys
    )
    assert code == 2 and "--attention needs a gcn trained with pooling: attention" in err
    code, _, err = run([str(jobs["linear"]), "--data-dir", str(data_dir)], capsys)
    assert code == 2 and "no variants given" in err
    code, _, err = run([str(jobs["gcn"]), "A108D", "--db", "x.db", "--collection", "c"], capsys)
    assert code == 2 and "--db: only for a model trained on a protein set" in err
    code, _, err = run([str(jobs["gcn"]), "A108D", "--collection", "c"], capsys)
    assert code == 2 and "--collection: only for a model trained on a protein set" in err


def test_a_full_disk_is_one_line(jobs, data_dir, capsys) -> None:
    """issue 8: /dev/full as the output (ENOSPC on write): one line naming it, exit 2."""
    code, _out, err = run(
        [str(jobs["linear"]), "A108D", "-o", "/dev/full", "--data-dir", str(data_dir)], capsys
    )
    assert code == 2 and "-o /dev/full: cannot write" in err and err.count("\n") == 1
