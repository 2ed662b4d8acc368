"""A table of hostile input through the user's commands (run_builder, dmsweep train and
predict, aggregate): each case gets a one-line error naming what is wrong (no traceback), a
non-zero exit status, and nothing is written.

Each case runs in an empty working folder of its own; "nothing written" means that folder
holds only the inputs the case put there afterwards. argparse's usage lines before its error
line are allowed (the standard form of a command-line usage error); nothing else is.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmsweep.aggregate.cli import main as aggregate_main
from dmsweep.cli import main as dmsweep_main
from dmsweep.run_builder.cli import main as run_builder_main

COMMANDS: dict[str, tuple[Callable[[list[str]], int], int]] = {
    "run_builder": (run_builder_main, 2),
    "dmsweep": (dmsweep_main, 2),
    "aggregate": (aggregate_main, 2),
}
"""Command -> (its main, the exit status of a refused input)."""
FIXTURE_JOB = Path(__file__).resolve().parent / "fixtures" / "tf215" / "linear-fdf24cb2d2b1"

BASE_SPEC: dict[str, Any] = {
    "name": "hostile",
    "dataset": "avgfp",
    "fixed": {"split": "random", "max_variants": 500, "max_epochs": 1},
    "models": {
        "linear": {},
        "fc": {"fixed": {"units": 8, "layers": 1}},
        "cnn": {"fixed": {"layers": 1, "filters": 4, "kernel_size": 3, "dense_units": 4}},
        "gcn": {"fixed": {"layers": 1, "filters": 4, "dense_units": 4}},
    },
    "environment": {"strategy": "shared"},
}


@dataclass(frozen=True)
class Case:
    id: str
    command: str
    args: tuple[str, ...]
    words: str
    """What the error line must contain (the key, file or value it names)."""
    files: dict[str, str | bytes | Path] = field(default_factory=dict)
    """Inputs put in the working folder first: text, bytes, or a folder to copy."""


def _spec(case_id: str, change: Callable[[dict[str, Any]], None], words: str) -> Case:
    spec = copy.deepcopy(BASE_SPEC)
    change(spec)
    return Case(case_id, "run_builder", ("spec.yaml",), words, {"spec.yaml": yaml.safe_dump(spec)})


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return change


def _param(model: str, key: str, value: Any, section: str = "fixed") -> Case:
    return _spec(
        f"spec-{model}-{key}={value!r}",
        _set(f"models.{model}.{section}.{key}", value),
        key,
    )


PARAMETER_CASES = [
    _param("fc", "units", 0),
    _param("fc", "units", -4),
    _param("fc", "units", 1.5),
    _param("fc", "units", "many"),
    _param("fc", "units", True),
    _param("fc", "units", 10**30),
    _param("fc", "layers", 0),
    _param("fc", "layers", -1),
    _param("fc", "dropout", -0.1),
    _param("fc", "dropout", 1.0),
    _param("fc", "dropout", float("nan")),
    _param("cnn", "kernel_size", 0),
    _param("cnn", "kernel_size", 10_000),
    _param("cnn", "filters", 0),
    _param("cnn", "dense_units", -1),
    _param("gcn", "k", 0),
    _param("gcn", "threshold", -1.0),
    _param("gcn", "threshold", 0),
    _param("gcn", "graph", "complete"),
    _param("gcn", "pooling", "max"),
    _param("linear", "seed", -1),
    _param("linear", "seed", 2**32),
    _param("linear", "seed", 2**70),
    _param("linear", "split_seed", -5),
    _param("linear", "learning_rate", 0),
    _param("linear", "learning_rate", -1e-3),
    _param("linear", "learning_rate", 1e300),
    _param("linear", "learning_rate", float("inf")),
    _param("linear", "max_epochs", 0),
    _param("linear", "max_epochs", float("inf")),
    _param("linear", "max_epochs", 2**70),
    _param("linear", "batch_size", 0),
    _param("linear", "batch_size", 2**40),
    _param("linear", "patience", -1),
    _param("linear", "min_delta", -1.0),
    _param("linear", "max_variants", 0),
    _param("linear", "max_variants", 2**63),
    _param("linear", "train_fraction", 0),
    _param("linear", "train_fraction", 1.5),
    _param("linear", "tune_fraction", 1.0),
    _param("linear", "encoding", "braille"),
    _param("linear", "no_such_key", 1),
    _param("fc", "units", [], "grid"),
    _param("fc", "units", 8, "grid"),
    _param("fc", "units", [8, 0], "grid"),
    _param("fc", "units", {"from": 1, "to": 10, "step": 0}, "grid"),
    _param("fc", "dropout", {"from": 0.0, "to": 0.5, "step": 1e-9}, "grid"),
]

SPEC_CASES = [
    _spec("spec-split-unknown", _set("fixed", {"split": "no/such/split"}), "no/such/split"),
    _spec("spec-dataset-unknown", _set("dataset", "zebrafish"), "zebrafish"),
    _spec("spec-model-unknown", _set("models.transformer", {}), "transformer"),
    _spec("spec-top-level-typo", _set("replicate", {"seed": [1]}), "replicate"),
    _spec("spec-name-newline", _set("name", "a\nqueue 1"), "name"),
    _spec("spec-name-slash", _set("name", "../escape"), "name"),
    _spec("spec-name-empty", _set("name", ""), "name"),
    _spec(
        "spec-image-newline",
        _set("environment", {"strategy": "container", "image": "img\n+Evil = 1"}),
        "image",
    ),
    _spec("spec-strategy-unknown", _set("environment.strategy", "magic"), "magic"),
    _spec("spec-trainings-per-job-0", _set("trainings_per_job", 0), "trainings_per_job"),
    _spec("spec-cpus-0", _set("resources", {"default": {"cpus": 0}}), "cpus"),
    _spec("spec-memory-negative", _set("resources", {"default": {"memory_mb": -1}}), "memory_mb"),
    _spec(
        "spec-requirements-nul",
        _set("resources", {"default": {"requirements": "True\x00"}}),
        "requirements",
    ),
    _spec("spec-max-idle-negative", _set("submit", {"max_idle": -1}), "max_idle"),
    _spec("spec-replicates-empty", _set("replicates", {"seed": []}), "replicates.seed"),
    _spec(
        "spec-when-never-holds",
        _set("models.gcn.grid", {"k": {"values": [4, 8], "when": {"graph": "knn"}}}),
        "when",
    ),
    _spec(
        "spec-when-unknown-axis",
        _set("models.gcn.grid", {"k": {"values": [4], "when": {"grpah": "knn"}}}),
        "grpah",
    ),
    _spec(
        "spec-samples-no-seed",
        _set("samples", {"n": 4, "ranges": {"dropout": {"low": 0, "high": 0.5}}}),
        "seed",
    ),
    _spec(
        "spec-samples-huge",
        _set("samples", {"n": 10**9, "seed": 1, "ranges": {"dropout": {"low": 0, "high": 0.5}}}),
        "n",
    ),
    _spec(
        "spec-too-many-trainings",
        _set("grid", {"seed": {"from": 0, "to": 999_999}, "batch_size": [16, 32]}),
        "trainings",
    ),
    _spec("spec-models-empty", _set("models", {}), "models"),
    _spec("spec-models-list", _set("models", ["linear"]), "models"),
    _spec("spec-fixed-list", _set("fixed", [1, 2]), "fixed"),
]

BASE_SPEC_FILE = {"spec.yaml": yaml.safe_dump(BASE_SPEC)}


def _build(case_id: str, words: str, *args: str, files: dict[str, str] | None = None) -> Case:
    """`run_builder spec.yaml ARGS` with the valid base spec: the options are what is wrong."""
    return Case(
        f"build-{case_id}",
        "run_builder",
        ("spec.yaml", *args),
        words,
        {**BASE_SPEC_FILE, **(files or {})},
    )


FILE_CASES = [
    Case("spec-missing", "run_builder", ("nope.yaml",), "nope.yaml"),
    Case("spec-empty", "run_builder", ("spec.yaml",), "spec.yaml", {"spec.yaml": ""}),
    Case("spec-not-a-mapping", "run_builder", ("spec.yaml",), "spec.yaml", {"spec.yaml": "- 1\n"}),
    Case(
        "spec-yaml-syntax",
        "run_builder",
        ("spec.yaml",),
        "spec.yaml",
        {"spec.yaml": "name: [unclosed\n"},
    ),
    Case(
        "spec-binary",
        "run_builder",
        ("spec.yaml",),
        "spec.yaml",
        {"spec.yaml": b"\xff\xfe\x00garbage"},
    ),
    Case(
        "spec-duplicate-key",
        "run_builder",
        ("spec.yaml",),
        "name",
        {"spec.yaml": "name: a\nname: b\ndataset: avgfp\nmodels: {linear: {}}\n"},
    ),
    Case(
        "spec-python-tag",
        "run_builder",
        ("spec.yaml",),
        "spec.yaml",
        {"spec.yaml": "name: !!python/object/apply:os.system ['touch pwned']\n"},
    ),
    Case("spec-is-a-folder", "run_builder", ("folder",), "folder", {"folder/x": ""}),
    _build("runs-dir-is-a-file", "taken", "-o", "taken", files={"taken": "a file"}),
    _build("name-newline", "name", "--name", "x\ny"),
    _build("name-dotdot", "name", "--name", ".."),
    _build("max-trainings-0", "--max-trainings", "--max-trainings", "0"),
    _build("max-trainings-below", "trainings", "--max-trainings", "2"),
    Case("status-not-a-run", "run_builder", ("status", "empty"), "empty", {"empty/x": ""}),
    Case("resubmit-missing", "run_builder", ("resubmit", "nope"), "nope"),
    Case("run-local-missing", "run_builder", ("run-local", "nope"), "nope"),
    Case("run-local-j-0", "run_builder", ("run-local", "nope", "-j", "0"), "-j"),
    Case("run-local-j-negative", "run_builder", ("run-local", "nope", "-j", "-2"), "-j"),
    Case("run-local-j-text", "run_builder", ("run-local", "nope", "-j", "two"), "-j"),
    Case(
        "submit-broken-manifest",
        "run_builder",
        ("submit", "run"),
        "run",
        {"run/manifest.json": "{not json", "run/queue.txt": ""},
    ),
]


def _train(case_id: str, words: str, *args: str, files: dict[str, str] | None = None) -> Case:
    base = ("train", "--set", "model=linear", "--set", "split=random", *args)
    return Case(f"train-{case_id}", "dmsweep", base, words, files or {})


TRAIN_CASES = [
    _train("units-0", "units", "--set", "model=fc", "--set", "units=0"),
    _train("layers-negative", "layers", "--set", "model=fc", "--set", "layers=-2"),
    _train("dropout-1", "dropout", "--set", "model=fc", "--set", "dropout=1"),
    _train("seed-huge", "seed", "--set", "seed=99999999999999999999"),
    _train("lr-inf", "learning_rate", "--set", "learning_rate=.inf"),
    _train("lr-1e300", "learning_rate", "--set", "learning_rate=1e300"),
    _train("max-epochs-1e999", "max_epochs", "--set", "max_epochs=1e999"),
    _train("batch-size-text", "batch_size", "--set", "batch_size=lots"),
    _train("empty-value", "--set 'split='", "--set", "split="),
    _train("no-equals", "--set", "--set", "units"),
    _train("unknown-key", "unitz", "--set", "unitz=3"),
    _train("unknown-model", "model", "--set", "model=transformer"),
    _train("unknown-dataset", "dataset", "--set", "dataset=zebrafish"),
    _train("threads-0", "--threads", "--threads", "0"),
    _train("config-missing", "nope.json", "--config", "nope.json"),
    _train("config-empty", "empty.json", "--config", "empty.json", files={"empty.json": ""}),
    _train("config-bad-json", "bad.json", "--config", "bad.json", files={"bad.json": "{x"}),
    _train(
        "config-duplicate",
        "model",
        "--config",
        "dup.json",
        files={"dup.json": '{"model": "fc", "model": "linear"}'},
    ),
    _train(
        "config-deep",
        "deep.json",
        "--config",
        "deep.json",
        files={"deep.json": "[" * 100_000 + "]" * 100_000},
    ),
    _train("config-list", "list.json", "--config", "list.json", files={"list.json": "[1, 2]"}),
    _train(
        "config-jsonl-bad-line",
        "line 2",
        "--config",
        "c.jsonl",
        files={"c.jsonl": '{"model": "linear"}\n{oops\n'},
    ),
    _train("output-is-a-file", "taken", "-o", "taken", files={"taken": "a file"}),
]


def _predict(case_id: str, words: str, *args: str, files: dict[str, str] | None = None) -> Case:
    return Case(f"predict-{case_id}", "dmsweep", ("predict", *args), words, files or {})


PREDICT_CASES = [
    _predict("folder-missing", "nope", "nope", "A108D"),
    _predict("folder-empty", "empty", "empty", "A108D", files={"empty/x": ""}),
    _predict("bad-variant", "Q3P", str(FIXTURE_JOB), "Q3P"),
    _predict("bad-syntax", "A108", str(FIXTURE_JOB), "A108"),
    _predict("out-of-range-position", "999", str(FIXTURE_JOB), "A999D"),
    _predict("no-variants", "no variants", str(FIXTURE_JOB)),
    _predict("file-missing", "nope.txt", str(FIXTURE_JOB), "--file", "nope.txt"),
    _predict("file-empty", "v.txt", str(FIXTURE_JOB), "--file", "v.txt", files={"v.txt": ""}),
    _predict(
        "file-unquoted-multi",
        "line 2",
        str(FIXTURE_JOB),
        "--file",
        "v.csv",
        files={"v.csv": "variant\nA108D,N144D\n"},
    ),
    _predict(
        "file-no-variant-column",
        "variant",
        str(FIXTURE_JOB),
        "--file",
        "v.csv",
        files={"v.csv": "name\nA108D\n"},
    ),
    _predict("attention-on-linear", "--attention", str(FIXTURE_JOB), "A108D", "--attention"),
    _predict(
        "output-is-a-folder", "out", str(FIXTURE_JOB), "A108D", "-o", "out", files={"out/x": ""}
    ),
]

AGGREGATE_CASES = [
    Case("aggregate-missing", "aggregate", ("nope",), "nope"),
    Case("aggregate-a-file", "aggregate", ("file.txt",), "file.txt", {"file.txt": "x"}),
    Case(
        "aggregate-bad-metric",
        "aggregate",
        ("results", "--metric", "test_magic"),
        "test_magic",
        {"results/linear-fdf24cb2d2b1": FIXTURE_JOB},
    ),
    Case(
        "aggregate-bad-select-metric",
        "aggregate",
        ("results", "--select-metric", "nope"),
        "nope",
        {"results/linear-fdf24cb2d2b1": FIXTURE_JOB},
    ),
    Case(
        "aggregate-out-is-a-file",
        "aggregate",
        ("results", "-o", "taken"),
        "taken",
        {"results/x/config.json": "{}", "taken": "x"},
    ),
    Case(
        "aggregate-jobs-0",
        "aggregate",
        ("results", "-j", "0"),
        "-j",
        {"results/x/config.json": "{}"},
    ),
]

CASES = [
    *PARAMETER_CASES,
    *SPEC_CASES,
    *FILE_CASES,
    *TRAIN_CASES,
    *PREDICT_CASES,
    *AGGREGATE_CASES,
]


def _write(root: Path, files: dict[str, str | bytes | Path]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copytree(content, path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(root.rglob("*"))
    }


def _error_lines(err: str) -> list[str]:
    """stderr without argparse's usage block (its first line and the indented ones after)."""
    lines, in_usage = [], False
    for line in err.splitlines():
        if line.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and line.startswith(" "):
            continue
        in_usage = False
        lines.append(line)
    return lines


def test_the_table_is_large_and_the_base_spec_is_valid(tmp_path, data_dir, capsys) -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES), "case ids are unique"
    _write(tmp_path, BASE_SPEC_FILE)
    code = run_builder_main([str(tmp_path / "spec.yaml"), "--dry-run", "--data-dir", str(data_dir)])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_input_is_one_line_and_writes_nothing(
    case: Case, tmp_path, data_dir, monkeypatch, capsys
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _write(work, case.files)
    before = _tree(work)
    monkeypatch.chdir(work)
    monkeypatch.setenv("DMSWEEP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DMSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    main, refused = COMMANDS[case.command]
    try:
        code = main(list(case.args))
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == refused, f"exit {code}; stderr: {err}"
    assert "Traceback" not in err + out
    lines = _error_lines(err)
    assert len(lines) == 1, f"expected one error line, got: {lines}"
    assert case.words in lines[0], lines[0]
    if case.id.startswith("spec-") and case.args[:1] == ("spec.yaml",):
        assert "spec.yaml" in lines[0], "a spec error names the file"
    assert _tree(work) == before, "the refused command wrote something"
    assert not (work / "pwned").exists()
    assert os.listdir(tmp_path) in (["work"], ["work", "cache"], ["cache", "work"])
