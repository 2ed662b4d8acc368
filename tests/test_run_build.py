"""run_builder SPEC: the run folder's files, golden submit file and wrapper, safety and quoting.

Regenerate the golden files after an intended template change with
    DMSWEEP_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/test_run_build.py -k golden
and review the diff of tests/golden/.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from run_specs import WEIRD_SPLIT, copy_templates, weird_data_dir, write_spec

from dmsweep.core.queuefile import MAX_LINE, QueueLine, decode_configs, encode_configs
from dmsweep.errors import ConfigError, DmsweepError
from dmsweep.run_builder.cli import main
from dmsweep.run_builder.expand import expand
from dmsweep.run_builder.folder import BuildOptions, build_run
from dmsweep.run_builder.run import Run
from dmsweep.run_builder.spec import load_spec

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = bool(os.environ.get("DMSWEEP_REGENERATE_GOLDEN"))


def _build(spec: Path, runs: Path, data_dir: Path, name: str = "run") -> Path:
    return build_run(spec, BuildOptions(runs_dir=runs, data_dir=data_dir, name=name, log=print))


def _normalised(text: str, run: Run) -> str:
    manifest = run.manifest
    replacements = {
        manifest.created: "<CREATED>",
        manifest.version: "<VERSION>",
        manifest.spec_path: "<SPEC_PATH>",
    }
    if manifest.environment.python.startswith("/"):  # shared: this machine's venv
        replacements[manifest.environment.python] = "<PYTHON>"
    if manifest.git_commit:
        replacements[manifest.git_commit] = "<COMMIT>"
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


IMAGE = "docker://example.org/dmsweep:0.1"


GPU_IMAGE = "docker://example.org/dmsweep-gpu:0.1"


@pytest.mark.parametrize("strategy", ["shared", "container", "container-gpu"])
def test_golden_submit_file_and_wrapper(tmp_path, data_dir, strategy):
    """container-gpu: fc asks for a GPU and the spec gives GPU jobs their own image."""
    environment = {"strategy": strategy, **({"image": IMAGE} if strategy == "container" else {})}
    if strategy == "container-gpu":
        gpu = {"strategy": "container", "image": GPU_IMAGE}
        environment = {"strategy": "container", "image": IMAGE, "gpu": gpu}
    resources = {
        "default": {"cpus": 1, "memory_mb": 2000, "disk_mb": 3000},
        "fc": {
            "cpus": 2,
            "memory_mb": 3000,
            "requirements": '(OpSysMajorVer >= 8) && (Arch == "X86_64")',
            **({"gpus": 1} if strategy == "container-gpu" else {}),
        },
    }
    spec = write_spec(
        tmp_path / "tiny.yaml",
        environment=environment,
        resources=resources,
        submit={"max_idle": 50, "max_materialize": 100},
    )
    run = Run.open(_build(spec, tmp_path / "runs", data_dir, name="golden"))
    for name in ("sweep.sub", "run_job.sh"):
        text = _normalised((run.paths.root / name).read_text(), run)
        golden = GOLDEN / strategy / name
        if REGENERATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        assert text == golden.read_text(), f"{name} differs from {golden} (see module docstring)"


def _jobs_csv_by_csv_writer(run: Run) -> str:
    """jobs.csv as csv.writer writes it row by row from queue.txt (the builder renders the
    cells once per section triple: it must write the same bytes)."""
    configs = [(c, line.batch_id) for line in run.queue for c in line.configs]
    keys = sorted({k for c, _ in configs for k in c} - {"job_id"})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["job_id", "batch_id", *keys])
    for config, batch_id in configs:
        cells = [config.get(k) for k in keys]
        cells = [
            ",".join(map(str, v)) if isinstance(v, list) else "" if v is None else v for v in cells
        ]
        writer.writerow([config["job_id"], batch_id, *cells])
    return buffer.getvalue()


def test_run_folder_contents(tmp_path, data_dir):
    spec = write_spec(tmp_path / "tiny.yaml")
    root = _build(spec, tmp_path / "runs", data_dir)
    run = Run.open(root)
    for name in (
        "sweep.sub",
        "run_job.sh",
        "queue.txt",
        "jobs.csv",
        "README.md",
        "spec.yaml",
        "manifest.json",
        "code/dmsweep/config.py",
        "results",
        "logs",
    ):
        assert (root / name).exists(), name
    assert os.access(root / "run_job.sh", os.X_OK)
    # one queue statement over queue.txt, one line per batch of at most 2 trainings
    sub = (root / "sweep.sub").read_text()
    assert len(re.findall(r"^queue ", sub, flags=re.M)) == 1
    assert "from queue.txt" in sub
    assert [len(line.configs) for line in run.queue] == [2, 2]
    # jobs.csv: one row per training with its batch and every flat parameter
    with open(root / "jobs.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 4
    assert {r["batch_id"] for r in rows} == {"b000001", "b000002"}
    assert {r["model"] for r in rows} == {"linear", "fc"}
    assert all(r["max_variants"] == "2000" for r in rows)
    queued = {c["job_id"]: c for line in run.queue for c in line.configs}
    assert set(queued) == {r["job_id"] for r in rows}
    for training in expand(load_spec(spec)):  # the exact flat config, job id added
        assert queued[training.job_id] == {**training.config.to_flat(), "job_id": training.job_id}
    assert {r["job_id"]: int(r["seed"]) for r in rows} == {j: c["seed"] for j, c in queued.items()}
    assert (root / "jobs.csv").read_bytes() == _jobs_csv_by_csv_writer(run).encode()
    # only the data the trainings read (random splits: no split files), with checksums
    manifest = run.manifest
    assert set(manifest.data) == {
        "avgfp/avgfp.tsv",
        "avgfp/avgfp_rosetta_model.pdb",
        "aaindex/pca-19.npy",
    }
    for rel, checksum in manifest.data.items():
        digest = hashlib.sha256((root / "data" / rel).read_bytes()).hexdigest()
        assert checksum == f"sha256:{digest}"
    assert manifest.trainings == 4 and manifest.batches == 2
    readme = (root / "README.md").read_text()
    for text in (
        "run_builder submit",
        "run_builder status",
        "run_builder resubmit",
        "run_builder run-local",
        "aggregate .",
        "4 (linear 2, fc 2)",
    ):
        assert text in readme


def test_published_split_brings_only_its_files(tmp_path, data_dir):
    spec = write_spec(
        tmp_path / "split.yaml",
        models={"linear": {"fixed": {"split": "main_replicates/standard_rep_1"}}},
        replicates={"seed": [1]},
    )
    run = Run.open(_build(spec, tmp_path / "runs", data_dir))
    split_files = sorted(r for r in run.manifest.data if "/splits/" in r)
    assert split_files == [
        f"avgfp/splits/main_replicates/standard_rep_1/{name}"
        for name in ("test.txt", "train.txt", "tune.txt")
    ]


def test_refuses_to_overwrite(tmp_path, data_dir):
    spec = write_spec(tmp_path / "tiny.yaml")
    root = _build(spec, tmp_path / "runs", data_dir, name="same")
    before = (root / "queue.txt").read_bytes()
    (root / "results" / "keep.txt").write_text("a result")
    with pytest.raises(ConfigError, match="already exists: refusing to overwrite"):
        _build(spec, tmp_path / "runs", data_dir, name="same")
    assert (root / "queue.txt").read_bytes() == before
    assert (root / "results" / "keep.txt").read_text() == "a result"


def test_half_built_folder_is_removed(tmp_path, data_dir, monkeypatch):
    """A template that fails to render (after data and code were written) leaves nothing."""
    templates = copy_templates(tmp_path)
    with open(templates / "run_job.sh.j2", "a") as stream:
        stream.write("{{ no_such_variable }}\n")
    monkeypatch.setenv("DMSWEEP_TEMPLATES", str(templates))
    spec = write_spec(tmp_path / "tiny.yaml")
    with pytest.raises(DmsweepError, match="no_such_variable"):
        _build(spec, tmp_path / "runs", data_dir, name="broken")
    assert not (tmp_path / "runs" / "broken").exists()


def test_cli_prints_the_run_folder_last_and_dry_run_writes_nothing(tmp_path, data_dir, capsys):
    spec = write_spec(tmp_path / "tiny.yaml")
    runs = tmp_path / "runs"
    assert main([str(spec), "-o", str(runs), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^linear\s+2\s+1\b", out, flags=re.M)
    assert re.search(r"^total\s+4\s+2\b", out, flags=re.M)
    assert not runs.exists()
    assert main([str(spec), "-o", str(runs), "--data-dir", str(data_dir)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert Path(last).parent == runs
    assert re.fullmatch(r"tiny-\d{8}-\d{6}", Path(last).name)
    assert Run.open(last).manifest.trainings == 4


def test_cli_bad_spec_is_one_line(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nmodels: {linear: {}}\nfixd: {seed: 1}\n")
    assert main([str(spec), "-o", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fixd" in err
    assert not (tmp_path / "runs").exists()


def test_metacharacters_survive_into_the_queue(tmp_path, data_dir, monkeypatch):
    data = weird_data_dir(tmp_path, data_dir)
    monkeypatch.setenv("DMSWEEP_DATA_DIR", str(data))
    spec = write_spec(
        tmp_path / "odd.yaml",
        models={"linear": {"fixed": {"split": WEIRD_SPLIT}}},
        replicates={"seed": [1]},
    )
    run = Run.open(_build(spec, tmp_path / "runs", data))
    raw = run.paths.queue.read_text()
    assert re.fullmatch(r"(b\d{6} (\d+ ){5}[A-Za-z0-9+/=]+\n)+", raw)
    (config,) = run.queue[0].configs
    assert config["split"] == WEIRD_SPLIT
    assert (run.paths.root / "data" / "avgfp" / "splits" / WEIRD_SPLIT / "train.txt").is_file()
    assert (run.paths.root / "data" / "avgfp" / "dataset.yaml").is_file()


def test_queue_line_round_trip_and_alphabet():
    nasty = {"job_id": "x", "text": "a b 'c' \"d\" $(rm -rf /); `id` \n\t\\ ü"}
    encoded = encode_configs([nasty, {"job_id": "y"}])
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", encoded)
    assert encode_configs([nasty]) == encode_configs([nasty])  # deterministic (gzip mtime 0)
    assert decode_configs(encoded) == [nasty, {"job_id": "y"}]
    line = QueueLine("b000007", 2, 4096, 8192, 0, 1, (nasty,))
    assert QueueLine.decode(line.encode()) == line
    assert line.itemdata()["configs"] == encode_configs([nasty])


def test_queue_line_longer_than_htcondor_takes_is_refused():
    configs = tuple(
        {"job_id": str(i), "noise": base64.b64encode(os.urandom(300)).decode()} for i in range(300)
    )
    with pytest.raises(ConfigError, match="lower trainings_per_job"):
        QueueLine("b000001", 1, 1, 1, 0, 0, configs).encode()
    assert MAX_LINE < 64 * 1024


def test_wrapper_refuses_malformed_arguments(tmp_path, data_dir):
    spec = write_spec(tmp_path / "tiny.yaml")
    root = _build(spec, tmp_path / "runs", data_dir)
    for args in (["b1;touch pwned", "1", "abc="], ["b1", "1 2", "abc="], ["b1", "1", "$(id)"]):
        result = subprocess.run(
            ["bash", str(root / "run_job.sh"), *args], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 2, result.stderr
        assert "malformed arguments" in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_manifest_and_submissions_are_json(tmp_path, data_dir):
    spec = write_spec(tmp_path / "tiny.yaml")
    root = _build(spec, tmp_path / "runs", data_dir)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["environment"]["strategy"] == "shared"
    assert manifest["queue_vars"][0] == "batch_id" and manifest["queue_vars"][-1] == "configs"
    assert not (root / "submissions.json").exists()


def test_job_list_renders_sections_as_csv_writer_and_json_dumps(tmp_path):
    """queue.txt and jobs.csv render each config section once and join the pieces: with
    values that need CSV quoting (commas, quotes, newlines, leading spaces, empty strings),
    lists, floats and sections shared between configs, every line must still be what
    json.dumps(sort_keys) and csv.writer write for the config itself."""
    from dmsweep.config import TrainConfig
    from dmsweep.run_builder.expand import PlannedBatch, PlannedTraining
    from dmsweep.run_builder.joblist import write_job_list
    from dmsweep.run_builder.spec import Resources

    flats = [
        {"model": "fc", "split": 'we,ird "q"\nx', "learning_rate": 3e-4, "dataset": "a,b"},
        {"model": "fc", "split": 'we,ird "q"\nx', "learning_rate": 3e-4, "dataset": "a,b"},
        {"model": "cnn", "split": " lead", "encoding": ["one_hot", "aa_index"], "dataset": " d"},
        {"model": "linear", "split": "random", "max_variants": 20, "dataset": "avgfp"},
    ]
    bases = [TrainConfig.from_flat(f) for f in flats]
    bases[1] = bases[0]  # one shared section triple under two seeds
    configs = [
        TrainConfig(b.params, b.data, b.optim, seed=s)
        for b, s in zip(bases, [1, 2, 3, 4], strict=True)
    ]
    trainings = [PlannedTraining(c.job_id, c, Resources()) for c in configs]
    batches = [
        PlannedBatch("b000001", tuple(trainings[:2]), Resources()),
        PlannedBatch("b000002", tuple(trainings[2:]), Resources()),
    ]
    queue, jobs = tmp_path / "queue.txt", tmp_path / "jobs.csv"
    write_job_list(queue, jobs, batches, [0, 0], reused=[(trainings[3], "reused")])

    lines = queue.read_text().splitlines()
    for line, batch in zip(lines, batches, strict=True):
        encoded = line.split(" ")[-1]
        text = gzip.decompress(base64.b64decode(encoded)).decode()
        wanted = [{**t.config.to_flat(), "job_id": t.job_id} for t in batch.trainings]
        assert [json.loads(j) for j in text.splitlines()] == wanted
        for json_line, config in zip(text.splitlines(), wanted, strict=True):
            rest = {k: v for k, v in config.items() if k not in ("job_id", "seed")}
            tail = f'"job_id":"{config["job_id"]}","seed":{config["seed"]}}}'
            assert json_line == json.dumps(rest, sort_keys=True, separators=(",", ":"))[:-1] + (
                f",{tail}"
            )
    rows = [(t, b.batch_id) for b in batches for t in b.trainings] + [(trainings[3], "reused")]
    keys = sorted({k for t, _ in rows for k in t.config.to_flat()})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["job_id", "batch_id", *keys])
    for training, batch_id in rows:
        flat = training.config.to_flat()
        cells = [flat.get(k) for k in keys]
        cells = [
            ",".join(map(str, v)) if isinstance(v, list) else "" if v is None else v for v in cells
        ]
        writer.writerow([training.job_id, batch_id, *cells])
    assert jobs.read_bytes() == buffer.getvalue().encode()
