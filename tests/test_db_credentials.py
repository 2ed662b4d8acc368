"""`run_builder submit RUN --db-credentials FILE`: the database login travels with the jobs
in the submit description the scheduler gets, never in sweep.sub or anywhere in the run
folder, and only from a file its owner alone can read."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_specs import write_spec

from dmsweep.run_builder import condor
from dmsweep.run_builder.cli import main as run_builder
from dmsweep.run_builder.credentials import CredentialsFile

SECRET = "hunter2-not-in-the-run-folder"


class FakeSchedd:
    """Records the submit descriptions it is given, as text."""

    def __init__(self) -> None:
        self.descriptions: list[str] = []

    def submit(self, description, itemdata):
        self.descriptions.append(str(description))
        list(itemdata)
        return type("Result", (), {"cluster": lambda self: 41})()


@pytest.fixture
def schedd(monkeypatch):
    fake = FakeSchedd()
    monkeypatch.setattr(condor, "_schedd", lambda: fake)
    return fake


@pytest.fixture
def run(tmp_path, data_dir):
    spec = write_spec(tmp_path / "tiny.yaml")
    runs = tmp_path / "runs"
    assert (
        run_builder([str(spec), "-o", str(runs), "--name", "r", "--data-dir", str(data_dir)]) == 0
    )
    return runs / "r"


def credentials(folder: Path, mode: int) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "db-login.yaml"
    path.write_text(f"username: reader\npassword: {SECRET}\n")
    path.chmod(mode)
    return path


def test_the_scheduler_gets_the_file_and_the_run_folder_never_names_it(tmp_path, run, schedd):
    login = credentials(tmp_path / "home", 0o600)
    assert run_builder(["submit", str(run), "--no-preflight", "--db-credentials", str(login)]) == 0
    (description,) = schedd.descriptions
    transfer = next(x for x in description.splitlines() if x.startswith("transfer_input_files"))
    assert transfer.endswith(f", {login.resolve()}")
    assert 'environment = "DMSWEEP_DB_CREDENTIALS=db-login.yaml"' in description
    assert "db-login" not in (run / "sweep.sub").read_text()
    for path in run.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 10_000_000:
            text = path.read_bytes()
            assert b"db-login" not in text and SECRET.encode() not in text, path


def test_a_file_others_can_read_is_refused_before_anything_is_submitted(
    tmp_path, run, schedd, capsys
):
    login = credentials(tmp_path / "home", 0o644)
    assert run_builder(["submit", str(run), "--no-preflight", "--db-credentials", str(login)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"--db-credentials {login}: readable by others (mode -rw-r--r--): chmod 600" in err
    assert SECRET not in err and not schedd.descriptions


def test_a_missing_file_is_one_line(tmp_path, run, schedd, capsys):
    missing = tmp_path / "nope.yaml"
    assert run_builder(["submit", str(run), "--db-credentials", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the credentials file" in err
    assert not schedd.descriptions


def test_the_variable_joins_an_environment_the_submit_file_sets(tmp_path):
    import htcondor2

    login = credentials(tmp_path, 0o400)
    description = htcondor2.Submit(
        'transfer_input_files = code, env/x.tar.gz\nenvironment = "DMSWEEP_ENV=$(ENV_$(req))"\n'
    )
    condor.add_credentials(description, CredentialsFile(login))
    assert description["environment"] == (
        '"DMSWEEP_ENV=$(ENV_$(req)) DMSWEEP_DB_CREDENTIALS=db-login.yaml"'
    )
    assert description["transfer_input_files"] == f"code, env/x.tar.gz, {login}"
