"""`dmsweep train`: configs from files and --set, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dmsweep.cli import load_configs, main, parse_overrides
from dmsweep.config import TrainConfig
from dmsweep.errors import ConfigError
from dmsweep.jobfiles import ERROR, METRICS

QUICK = ["--set", "split=random", "--set", "max_variants=500", "--set", "max_epochs=2"]


def test_set_values_are_yaml_scalars() -> None:
    values = parse_overrides(["model=cnn", "max_epochs=5", "dropout=0.5", "encoding=one_hot"])
    assert values == {"model": "cnn", "max_epochs": 5, "dropout": 0.5, "encoding": "one_hot"}
    (config,) = load_configs(None, ["model=cnn", "learning_rate=1e-3", "filters=64"])
    assert config == TrainConfig.from_flat({"model": "cnn", "learning_rate": 0.001, "filters": 64})


def test_config_files_json_yaml_jsonl(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("model: fc\nunits: 50\nlearning_rate: 1e-3\n")
    (tmp_path / "b.json").write_text('{"model": "gcn", "threshold": 6}')
    (tmp_path / "c.jsonl").write_text('{"model": "linear"}\n\n{"model": "cnn", "seed": 2}\n')
    assert load_configs(tmp_path / "a.yaml", []) == [
        TrainConfig.from_flat({"model": "fc", "units": 50, "learning_rate": 1e-3})
    ]
    assert load_configs(tmp_path / "b.json", ["seed=3"])[0].to_flat()["seed"] == 3
    many = load_configs(tmp_path / "c.jsonl", ["max_epochs=4"])
    assert [c.model for c in many] == ["linear", "cnn"]
    assert all(c.optim.max_epochs == 4 for c in many)


def test_a_job_config_json_can_be_reused(tmp_path) -> None:
    config = TrainConfig.from_flat({"model": "fc", "units": 7})
    (tmp_path / "config.json").write_text(json.dumps({**config.to_flat(), "job_id": config.job_id}))
    assert load_configs(tmp_path / "config.json", []) == [config]


@pytest.mark.parametrize(
    ("content", "suffix", "words"),
    [
        ('{"model": "linear"}\n{"modle": "cnn"}\n', ".jsonl", "line 2: unknown key 'modle'"),
        ('{"model": "linear"}\nnot json\n', ".jsonl", "line 2: invalid JSON"),
        ("- model: fc\n", ".yaml", "expected a mapping"),
        ("model: [unclosed\n", ".yaml", "cannot read the config"),
    ],
)
def test_bad_config_files(tmp_path, content, suffix, words) -> None:
    path = tmp_path / f"config{suffix}"
    path.write_text(content)
    with pytest.raises(ConfigError, match=words.replace("[", r"\[")):
        load_configs(path, [])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "modle=cnn"], "unknown key 'modle' (did you mean 'model'?)"),
        (["--set", "model=linear", "--set", "filters=3"], "does not apply to model 'linear'"),
        (["--set", "learning_rate=fast"], "learning_rate: expected a number in (0, 10]"),
        (["--set", "seed"], "expected KEY=VALUE"),
        (["--config", "missing.yaml"], "missing.yaml: cannot read the config"),
    ],
)
def test_config_errors_exit_2_with_one_line(args, words, tmp_path, capsys) -> None:
    assert main(["train", "-o", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written before every config is valid


def test_console_script_help_and_exit_code(tmp_path) -> None:
    exe = [sys.executable, "-m", "dmsweep.cli"]
    done = subprocess.run([*exe, "train", "--help"], capture_output=True, text=True, check=True)
    assert "--set KEY=VALUE" in done.stdout and "learning_rate" in done.stdout
    bad = subprocess.run([*exe, "train", "--set", "x=1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown key 'x'" in bad.stderr
    usage = subprocess.run([*exe, "train", "--threads", "0"], capture_output=True, text=True)
    assert usage.returncode == 2 and "expected an integer >= 1" in usage.stderr


@pytest.mark.slow
def test_train_prints_folders_and_exit_1_on_failure(tmp_path, data_dir, capsys) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"model": "linear"}\n{"model": "cnn", "layers": 10, "kernel_size": 25, "filters": 4}\n'
    )
    args = ["train", "--config", str(jobs), "-o", str(tmp_path / "out")]
    code = main([*args, "--data-dir", str(data_dir), "--threads", "2", *QUICK])
    out, err = capsys.readouterr()
    folders = [line for line in out.splitlines() if line]
    assert code == 1 and len(folders) == 2
    assert (tmp_path / "out" / folders[0].split("/")[-1] / METRICS).is_file()
    assert (tmp_path / "out" / folders[1].split("/")[-1] / ERROR).is_file()
    assert "epoch 1/2 train_loss" in err and "FAILED" in err

    code = main([*args, "--data-dir", str(data_dir), "--quiet", *QUICK])
    out, err = capsys.readouterr()
    assert code == 1 and "skipped" in err and "FAILED" in err and "epoch" not in err
    assert out.splitlines() == folders


def test_unwritable_output_is_one_line(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["train", "--set", "max_epochs=1", "-o", str(blocker / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot create a job folder there" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.json", "", "the config file is empty"),
        ("blank.yaml", "\n  \n", "the config file is empty"),
        ("twice.json", '{"model": "fc", "units": 5, "units": 50}', "duplicate key 'units'"),
        ("twice.yaml", "model: fc\nunits: 5\nunits: 50\n", "duplicate key 'units'"),
        ("twice.jsonl", '{"seed": 1, "seed": 2}\n', "line 1: invalid JSON: duplicate key 'seed'"),
        ("deep.json", '{"model": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested more than 100"),
        ("deep.yaml", "model: " + "[" * 5_000 + "]" * 5_000 + "\n", "nested more than 100"),
        ("nan.json", '{"learning_rate": NaN}', "NaN is not a number in JSON"),
        ("null.yaml", "~\n", "expected a mapping of flat config keys"),
    ],
)
def test_config_files_that_would_train_a_silent_default_are_refused(
    tmp_path, capsys, name, content, words
) -> None:
    """issue 8: these used to train the default config (or crash with a RecursionError)."""
    path = tmp_path / name
    path.write_text(content)
    out = tmp_path / "out"
    assert main(["train", "--config", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_an_empty_set_value_is_refused(tmp_path, capsys) -> None:
    assert main(["train", "--set", "learning_rate=", "-o", str(tmp_path / "o")]) == 2
    assert "--set 'learning_rate=': empty value" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flat", "words"),
    [
        ({"model": "fc", "units": 0}, "units: expected an integer in [1, 100_000], got 0"),
        ({"max_epochs": 1e999}, "max_epochs: expected an integer in [1, 100_000], got inf"),
        ({"seed": 2**64}, "seed: expected an integer in [0, 4_294_967_295]"),
        ({"model": "cnn", "kernel_size": 238}, "kernel_size: expected an integer in [1, 237]"),
        ({"model": "gcn", "graph": "knn", "k": 237}, "k: expected an integer in [1, 236]"),
    ],
)
def test_out_of_range_configs_exit_2_before_training(tmp_path, capsys, flat, words) -> None:
    """Ranges (and the lengths the dataset allows) are checked for --config as for specs."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(flat).replace("Infinity", "1e999"))
    assert main(["train", "--config", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_a_config_queued_under_another_id_gets_error_json(tmp_path, capsys) -> None:
    """issue 7: the job checks its config against the id it was queued with."""
    config = TrainConfig.from_flat({"model": "fc", "units": 7})
    path = tmp_path / "configs.jsonl"
    path.write_text(json.dumps({**config.to_flat(), "job_id": "fc-0123456789ab"}) + "\n")
    assert main(["train", "--config", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "fc-0123456789ab: FAILED: job_id mismatch" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["fc-0123456789ab"]
    error = json.loads((tmp_path / "out" / "fc-0123456789ab" / ERROR).read_text())
    assert error["phase"] == "config" and config.job_id in error["message"]

    path.write_text(json.dumps({**config.to_flat(), "job_id": "../../escape"}) + "\n")
    assert main(["train", "--config", str(path), "-o", str(tmp_path / "out2")]) == 2
    assert "job_id: expected <model>-<12 hex digits>" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists() and not (tmp_path.parent / "escape").exists()


def test_predict_output_that_cannot_be_written_is_one_line(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target, words in (
        (blocker / "out.csv", "is a file, not a folder"),
        (tmp_path, "is a folder"),
    ):
        assert main(["predict", str(tmp_path / "nojob"), "A1G", "-o", str(target)]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
