"""Sweep specs: every bad spec is refused with one line naming file and key path; good values
(quotes, spaces, shell metacharacters) pass through untouched. Fast: no TensorFlow, no data."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmsweep.data.source import DataSource
from dmsweep.errors import ConfigError
from dmsweep.run_builder.plan import plan
from dmsweep.run_builder.spec import EnvironmentSpec, Resources, load_spec

REPO = Path(__file__).resolve().parents[1]
HEAD = "name: t\ndataset: avgfp\n"


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        plan(load_spec(path), data=DataSource.resolve())  # everything checked before a build
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    return message[len(f"{path}: ") :]


BAD = {
    # unknown keys, with the closest valid key
    "top-level key": (
        "models: {linear: {}}\ngird: {batch_size: [1]}\n",
        "gird: unknown key (did you mean 'grid'?)",
    ),
    "parameter key": (
        "models: {linear: {}}\ngrid: {learnin_rate: [0.1]}\n",
        "grid.learnin_rate: unknown key (did you mean 'learning_rate'?)",
    ),
    "block key": (
        "models: {fc: {grdi: {layers: [1]}}}\n",
        "models.fc.grdi: unknown key (did you mean 'grid'?)",
    ),
    "model type": (
        "models: {lineer: {}}\n",
        "models.lineer: unknown model type (did you mean 'linear'?)",
    ),
    "resource key": (
        "models: {linear: {}}\nresources: {default: {memory: 4096}}\n",
        "resources.default.memory: unknown key (did you mean 'memory_mb'?)",
    ),
    "range key": (
        "models: {linear: {}}\n"
        "samples: {n: 2, seed: 1, ranges: {learning_rate: {lo: 1, high: 2}}}\n",
        "samples.ranges.learning_rate.lo: unknown key (did you mean 'low'?)",
    ),
    # wrong types
    "axis value type": (
        "models: {linear: {}}\ngrid: {batch_size: [32, abc]}\n",
        "grid.batch_size[1]: expected an integer in [1, 1_048_576], got 'abc'",
    ),
    "boolean as number": (
        "models: {linear: {}}\ngrid: {batch_size: [true]}\n",
        "grid.batch_size[0]: expected an integer in [1, 1_048_576], got a boolean True",
    ),
    "fixed value type": (
        "models: {linear: {}}\nfixed: {learning_rate: fast}\n",
        "fixed.learning_rate: expected a number in (0, 10], got 'fast'",
    ),
    "fixed list": (
        "models: {linear: {}}\nfixed: {learning_rate: [0.1, 0.2]}\n",
        "fixed.learning_rate: expected one value, got a list (put axes under grid:)",
    ),
    "scalar axis": (
        "models: {linear: {}}\ngrid: {batch_size: 32}\n",
        "grid.batch_size: expected a list of values or {from: .., to: ..}, got 32 "
        "(put single values under fixed:)",
    ),
    "trainings_per_job": (
        "models: {linear: {}}\ntrainings_per_job: ten\n",
        "trainings_per_job: expected an integer >= 1, got 'ten'",
    ),
    "cpus": (
        "models: {linear: {}}\nresources: {default: {cpus: 1.5}}\n",
        "resources.default.cpus: expected an integer >= 1, got 1.5",
    ),
    "mixed precision without a gpu": (
        "models: {fc: {fixed: {precision: mixed_float16}}}\n",
        "models.fc: precision mixed_float16 needs a GPU: set resources.fc.gpus >= 1, or leave "
        "precision unset (float32 on CPUs)",
    ),
    "unknown precision": (
        "models: {fc: {fixed: {precision: fp8}}}\nresources: {fc: {gpus: 1}}\n",
        None,
    ),
    "gpu capability without gpus": (
        "models: {linear: {}}\nresources: {default: {gpus_minimum_capability: 8.0}}\n",
        "resources.default.gpus_minimum_capability: only applies with gpus >= 1",
    ),
    "gpu capability out of range": (
        "models: {gcn: {}}\nresources: {gcn: {gpus: 1, gpus_minimum_capability: 80}}\n",
        "resources.gcn.gpus_minimum_capability: expected a CUDA compute capability in "
        "[1.0, 20.0] such as 8.0, got 80",
    ),
    "gpu memory not a count": (
        "models: {gcn: {}}\nresources: {gcn: {gpus: 1, gpus_minimum_memory: 40GB}}\n",
        "resources.gcn.gpus_minimum_memory: expected an integer >= 1, got '40GB'",
    ),
    "preflight": (
        "models: {linear: {}}\nsubmit: {preflight: 'yes'}\n",
        "submit.preflight: expected true or false, got 'yes'",
    ),
    "block not a mapping": (
        "models: {linear: 5}\n",
        "models.linear: expected a block mapping (fixed/grid/samples), got 5",
    ),
    "top level not a mapping": ("- a\n- b\n", None),
    # empty axes and nothing to do
    "empty axis": (
        "models: {linear: {}}\ngrid: {batch_size: []}\n",
        "grid.batch_size: empty axis (no values)",
    ),
    "empty range axis": (
        "models: {linear: {}}\ngrid: {batch_size: {from: 5, to: 1}}\n",
        "grid.batch_size: empty axis (from: 5 is above to: 1)",
    ),
    "empty block list": ("models: {fc: []}\n", "models.fc: empty list of blocks"),
    "no jobs": ("models: {}\n", "models: no model blocks: the spec yields no trainings"),
    "empty file": (None, "the sweep spec is empty"),
    # conditions
    "condition on unknown axis": (
        "models: {gcn: {grid: {graph: [distance, knn], "
        "threshold: {values: [4], when: {grpah: distance}}}}}\n",
        "models.gcn.grid.threshold.when.grpah: condition on unknown axis 'grpah' "
        "(did you mean 'graph'?)",
    ),
    "condition on a key the spec never sets": (
        "models: {gcn: {grid: {threshold: {values: [4], when: {graph: distance}}}}}\n",
        "models.gcn.grid.threshold.when.graph: condition on unknown axis 'graph': it is not set "
        "anywhere in this spec (set keys: model, threshold)",
    ),
    "condition value never occurs": (
        "models: {gcn: {grid: {graph: [distance, knn], "
        "threshold: {values: [4], when: {graph: distnce}}}}}\n",
        "models.gcn.grid.threshold.when.graph: graph is never 'distnce' in this spec "
        "(values: distance, knn)",
    ),
    "condition on a model the spec lacks": (
        "models: {linear: {}, fc: {}}\ngrid: {units: {values: [10], when: {model: cnn}}}\n",
        "grid.units.when.model: 'cnn' is not a model of this spec (linear, fc)",
    ),
    "condition that leaves an axis no model": (
        "models: {linear: {}, fc: {}, cnn: {}}\n"
        "grid: {filters: {values: [8], when: {model: fc}}}\n",
        "grid.filters.when.model: filters applies to none of the models this condition allows",
    ),
    # parameters that apply to no model
    "spec-level key for no model": (
        "models: {linear: {}, fc: {}}\ngrid: {filters: [32]}\n",
        "grid.filters: applies to no model of this spec (models: linear, fc; "
        "filters applies to cnn, gcn)",
    ),
    "block key for another model": (
        "models: {fc: {grid: {filters: [32]}}}\n",
        "models.fc.grid.filters: does not apply to model 'fc' (applies to cnn, gcn)",
    ),
    "model as an axis": (
        "models: {linear: {}}\ngrid: {model: [fc]}\n",
        "grid.model: not allowed here: list model types under models:",
    ),
    # combinations that are no valid training
    "k without knn graph": (
        "models: {gcn: {grid: {k: [4, 8]}}}\n",
        "models.gcn: k: only applies with graph: knn (combination: k=4)",
    ),
    "split_seed with a published split": (
        "models: {linear: {}}\nresamples: {split_seed: [1, 2]}\n",
        "models.linear: split_seed: only applies with split: random or train_fraction < 1 "
        "(combination: split_seed=1)",
    ),
    # dataset and split
    "missing dataset": ("name: t\nmodels: {linear: {}}\n", "dataset: missing (required)"),
    "unknown dataset": (
        "name: t\ndataset: avgpf\nmodels: {linear: {}}\n",
        "dataset: unknown dataset 'avgpf': expected one of ['avgfp']{in_data_dir}, "
        "or the path of a dataset card (.yaml)",
    ),
    "missing card file": (
        "name: t\ndataset: cards/nope.yaml\nmodels: {linear: {}}\n",
        "dataset: 'cards/nope.yaml': dataset card not found (relative to the spec's folder)",
    ),
    "unknown split": ("models: {linear: {}}\nfixed: {split: mian}\n", None),
    # structure
    "key in fixed and grid": (
        "models: {linear: {}}\nfixed: {batch_size: 3}\ngrid: {batch_size: [3]}\n",
        "grid.batch_size: batch_size is also under fixed: set it in one place",
    ),
    "replicate key set in a block": (
        "models: {linear: {fixed: {seed: 3}}}\nreplicates: {seed: [1, 2]}\n",
        "models.linear: seed is a replicates axis (replicates.seed); it cannot be set in a "
        "model block",
    ),
    "not a replicate key": (
        "models: {linear: {}}\nreplicates: {learning_rate: [0.1]}\n",
        "replicates.learning_rate: not a replicate key: put it under fixed: or grid: "
        "(expected seed)",
    ),
    "samples without seed": (
        "models: {linear: {}}\n"
        "samples: {n: 4, ranges: {learning_rate: {low: 1.0e-5, high: 0.01}}}\n",
        "samples.seed: missing: the sampling seed is required (it is recorded)",
    ),
    "log range from zero": (
        "models: {linear: {}}\n"
        "samples: {n: 4, seed: 1, ranges: {min_delta: {low: 0, high: 0.01, log: true}}}\n",
        "samples.ranges.min_delta.low: a log-scale range needs low > 0, got 0.0",
    ),
    "range of a string key": (
        "models: {gcn: {}}\nsamples: {n: 4, seed: 1, ranges: {graph: {low: 0, high: 1}}}\n",
        "samples.ranges.graph: graph is not numeric: sample it with choices: [...]",
    ),
    "container without image": (
        "models: {linear: {}}\nenvironment: {strategy: container}\n",
        "environment.image: missing: strategy container needs an image",
    ),
    "unknown strategy": (
        "models: {linear: {}}\nenvironment: {strategy: tarbal}\n",
        "environment.strategy: expected one of tarball, wheelhouse, container, shared, "
        "got 'tarbal' (did you mean 'tarball'?)",
    ),
    "bad name": (
        "name: 'my run'\ndataset: avgfp\nmodels: {linear: {}}\n",
        "name: 'my run': use letters, digits, '_', '-' and '.' (it names the run folder)",
    ),
    # YAML itself
    "YAML syntax": (
        "models:\n  linear: {}\n   fc: {}\n",
        "line 5, column 4: YAML syntax error: did not find expected key",
    ),
    "unclosed bracket": (
        "models: {linear: {}}\ngrid: {batch_size: [1, 2}\n",
        None,
    ),
    "duplicate key": (
        "models: {linear: {}}\nmodels: {fc: {}}\n",
        "line 4, column 1: YAML syntax error: duplicate key 'models'",
    ),
    "python tag is not executed": (
        "models: {linear: {}}\ndescription: !!python/object/apply:os.system ['echo hi']\n",
        None,
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_spec_is_refused_with_one_line(tmp_path: Path, case: str) -> None:
    text, expected = BAD[case]
    if text is None:
        text = ""
    elif not text.startswith(("name:", "- ")):
        text = HEAD + text
    message = refused(tmp_path, text)
    if expected is not None:
        local = DataSource.resolve().data_dir
        where = f" or in {local}" if local is not None else " (no data directory given)"
        assert message == expected.replace("{in_data_dir}", where)


def test_unknown_split_names_the_closest_published_one(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD + "models: {linear: {}}\nfixed: {split: mian}\n")
    assert message.startswith(
        "fixed.split: no split 'mian' in dataset 'avgfp' (published splits, closest first: main, "
    )
    assert "(57 in all); or random)" in message and len(message) < 400


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    message = refused(tmp_path, HEAD + "models: {linear: {}}\ngrid: {batch_size: [1, 2}\n")
    assert message.startswith("line 4, column ") and "YAML syntax error" in message


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: sweep spec not found$"):
        load_spec(tmp_path / "nope.yaml")


def test_nothing_is_written_while_validating(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "models: {gcn: {grid: {k: [4]}}}\n")
    with pytest.raises(ConfigError):
        plan(load_spec(path), data=DataSource.resolve())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_values_with_quotes_spaces_and_shell_metacharacters_survive(tmp_path: Path) -> None:
    requirements = "(OpSysMajorVer == 9) && (Machine =!= \"bad node; rm -rf $HOME\") || `x` 'q'"
    image = "docker://registry.example.org/lab/dms sweep:1.0 $(whoami)"
    description = 'GFP "main" sweep; $HOME `date` & | > < * ? \' \\ done'
    text = (
        "name: quoting-test_1.0\n"
        "dataset: avgfp\n"
        f"description: {_yaml_quote(description)}\n"
        "models: {linear: {}}\n"
        f"resources: {{default: {{requirements: {_yaml_quote(requirements)}}}}}\n"
        f"environment: {{strategy: container, image: {_yaml_quote(image)}}}\n"
    )
    spec = load_spec(write(tmp_path, text))
    assert spec.resources_for("linear").requirements == requirements
    assert spec.environment == EnvironmentSpec(strategy="container", image=image)
    assert spec.description == description
    assert spec.name == "quoting-test_1.0"


def _yaml_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_defaults_and_settings(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, HEAD + "models: {linear: {}}\n"))
    assert spec.trainings_per_job == 1 and spec.per_job_for("linear") == 1
    assert spec.environment == EnvironmentSpec()
    assert spec.resources_for("gcn") == Resources()
    assert (spec.max_idle, spec.max_materialize, spec.preflight, spec.seed) == (
        None,
        None,
        False,
        0,
    )
    assert spec.path == tmp_path / "spec.yaml" and spec.dataset == "avgfp"

    spec = load_spec(
        write(
            tmp_path,
            HEAD
            + "models: {linear: {}, gcn: {}}\n"
            + "resources: {default: {cpus: 2, memory_mb: 1000}, gcn: {memory_mb: 4096, gpus: 1}}\n"
            + "trainings_per_job: {default: 10, gcn: 2}\n"
            + "submit: {max_idle: 100, max_materialize: 500, preflight: true}\n"
            + "samples: {method: random, n: 3, seed: 42, "
            + "ranges: {batch_size: {low: 8, high: 64}}}\n",
        )
    )
    assert spec.resources_for("linear") == Resources(cpus=2, memory_mb=1000)
    assert spec.resources_for("gcn") == Resources(cpus=2, memory_mb=4096, gpus=1)
    assert (spec.trainings_per_job, spec.per_job_for("gcn"), spec.per_job_for("fc")) == (10, 2, 10)
    assert (spec.max_idle, spec.max_materialize, spec.preflight, spec.seed) == (100, 500, True, 42)
    assert spec.models == ("linear", "gcn")


def test_card_path_relative_to_the_spec(tmp_path: Path) -> None:
    from dmsweep.data.datasets import PACKAGED_CARDS

    card = tmp_path / "my cards" / "avgfp copy.yaml"
    card.parent.mkdir()
    card.write_text((PACKAGED_CARDS / "avgfp.yaml").read_text())
    spec = load_spec(
        write(tmp_path, "name: t\ndataset: my cards/avgfp copy.yaml\nmodels: {linear: {}}\n")
    )
    assert spec.dataset == "my cards/avgfp copy.yaml"  # as written; the plan resolves it
    planned = plan(spec, data=DataSource())
    assert planned.card.path == card.resolve()
    assert planned.data.cards == {"avgfp": card.resolve()}
    assert {t.config.data.dataset for t in planned.trainings} == {"avgfp"}


@pytest.mark.parametrize("name", ["demo", "gfp_main", "gfp_resampling", "gfp_replicates"])
def test_shipped_specs_load(name: str) -> None:
    spec = load_spec(REPO / "sweeps" / f"{name}.yaml")
    assert spec.name == name
    assert set(spec.models) == {"linear", "fc", "cnn", "gcn"}
    assert spec.description


def test_the_replicates_sweep_is_four_models_on_six_published_splits() -> None:
    planned = plan(load_spec(REPO / "sweeps" / "gfp_replicates.yaml"), data=DataSource.resolve())
    splits = {t.config.data.split for t in planned.trainings}
    assert splits == {f"main_replicates/standard_rep_{i}" for i in range(6)}
    models = [t.config.model for t in planned.trainings]
    assert {m: models.count(m) for m in set(models)} == {"linear": 6, "fc": 6, "cnn": 6, "gcn": 6}


def test_the_extrapolation_sweep_is_linear_and_fc_below_four_mutations() -> None:
    planned = plan(load_spec(REPO / "sweeps" / "gfp_extrapolation.yaml"), data=DataSource.resolve())
    assert sorted(t.config.model for t in planned.trainings) == ["fc", "linear"]
    for training in planned.trainings:
        data = training.config.data
        assert (data.split, data.max_train_mutations, data.tune_fraction) == (
            "extrapolation",
            3,
            0.1,
        )
    assert not any("splits/" in rel for rel in planned.data_files())  # no split folder read


def test_an_extrapolation_split_is_checked_against_the_dataset(tmp_path: Path) -> None:
    """avGFP's variants have at most 15 mutations: k = 15 would leave no test variant."""
    message = refused(
        tmp_path,
        HEAD + "fixed: {split: extrapolation, max_train_mutations: 15}\nmodels: {linear: {}}\n",
    )
    assert message.startswith("models.linear: split extrapolation: max_train_mutations 15 ")
    assert "0 test variants" in message and "1 to 15 mutations" in message
    message = refused(tmp_path, HEAD + "fixed: {max_train_mutations: 3}\nmodels: {linear: {}}\n")
    assert "max_train_mutations: only applies with split: extrapolation" in message
