"""TrainConfig: flat round trip, stable job ids, and one-line errors for bad keys and values."""

from __future__ import annotations

import pytest

from dmsweep.config import TrainConfig, job_id
from dmsweep.errors import ConfigError


def test_flat_round_trip_keeps_job_id() -> None:
    config = TrainConfig.from_flat({"model": "gcn", "filters": 64, "learning_rate": "1e-3"})
    again = TrainConfig.from_flat(config.to_flat())
    assert again == config
    assert again.job_id == config.job_id
    assert config.job_id.startswith("gcn-") and len(config.job_id) == len("gcn-") + 12


def test_defaults_are_resolved_into_the_flat_form() -> None:
    flat = TrainConfig.from_flat({"model": "gcn"}).to_flat()
    assert flat["threshold"] == 7.0 and "k" not in flat
    knn = TrainConfig.from_flat({"model": "gcn", "graph": "knn"}).to_flat()
    assert knn["k"] == 8 and "threshold" not in knn


def test_equal_values_written_differently_share_a_job_id() -> None:
    a = TrainConfig.from_flat({"model": "fc", "learning_rate": 0.001, "layers": 3.0})
    b = TrainConfig.from_flat({"model": "fc", "learning_rate": "1e-3", "units": 100})
    assert a.job_id == b.job_id


def test_different_configs_get_different_ids() -> None:
    ids = {TrainConfig.from_flat({"model": "cnn", "seed": s}).job_id for s in range(50)}
    assert len(ids) == 50


def test_job_id_is_stable_across_versions() -> None:
    """Changing the hash would orphan every finished result: pin one id."""
    assert job_id(TrainConfig().to_flat()) == "linear-cb6713809dfe"


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"model": "linear", "filters": 3}, "filters: does not apply to model 'linear'"),
        ({"model": "cnn", "lerning_rate": 1}, "did you mean 'learning_rate'"),
        ({"model": "gcn", "k": 3}, "k: only applies with graph: knn"),
        ({"model": "fc", "layers": 2.5}, "layers: expected an integer in [1, 100], got 2.5"),
        ({"model": "fc", "layers": True}, "layers: expected an integer in [1, 100], got a boolean"),
        ({"model": "transformer"}, "model: expected one of"),
        ({"encoding": ["one_hot", "blosum"]}, "encoding: expected one of"),
        ({"learning_rate": -1}, "learning_rate: expected a number in (0, 10], got -1"),
        ({"split": "main", "tune_fraction": 0.2}, "tune_fraction: only applies with split: random"),
        ({"split": "random", "tune_fraction": 0.5, "test_fraction": 0.5}, "sum below 1"),
        ({"train_fraction": 0}, "train_fraction: expected a number in (0, 1], got 0"),
        ({"learning_rate": "nan"}, "learning_rate: expected a number in (0, 10], got 'nan'"),
        (
            {"split": "main", "max_train_mutations": 3},
            "max_train_mutations: only applies with split: extrapolation",
        ),
        (
            {"split": "random", "max_train_mutations": 3},
            "max_train_mutations: only applies with split: extrapolation",
        ),
        ({"split": "extrapolation"}, "max_train_mutations: expected an integer in [1, 10_000]"),
        (
            {"split": "extrapolation", "max_train_mutations": 3, "test_fraction": 0.2},
            "test_fraction: only applies with split: random",
        ),
        (
            {"split": "extrapolation", "max_train_mutations": 3, "max_variants": 100},
            "max_variants: only applies with split: random",
        ),
        (
            {"split": "extrapolation", "max_train_mutations": 0},
            "max_train_mutations: expected an integer in [1, 10_000], got 0",
        ),
        (
            {"split": "extrapolation", "max_train_mutations": 2.5},
            "max_train_mutations: expected an integer in [1, 10_000], got 2.5",
        ),
    ],
)
def test_bad_configs_fail_with_one_line_naming_the_key(flat: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_flat(flat, source="spec.yaml")
    text = str(err.value)
    assert text.startswith("spec.yaml: ") and message in text and "\n" not in text


def test_an_extrapolation_split_resolves_its_seed_and_tune_fraction() -> None:
    """The tune draw is seeded and its fraction stated in config.json; k is part of the id."""
    config = TrainConfig.from_flat({"split": "extrapolation", "max_train_mutations": 3})
    flat = config.to_flat()
    assert (flat["split_seed"], flat["tune_fraction"], flat["max_train_mutations"]) == (0, 0.1, 3)
    assert "test_fraction" not in flat and "max_variants" not in flat
    assert TrainConfig.from_flat(flat).job_id == config.job_id
    assert config.replace(max_train_mutations=2).job_id != config.job_id
    assert config.replace(split_seed=1).job_id != config.job_id
    assert "max_train_mutations" not in TrainConfig().to_flat()  # other splits: id unchanged


def test_replace_changes_one_key() -> None:
    base = TrainConfig.from_flat({"model": "cnn"})
    quick = base.replace(max_epochs=3)
    assert quick.optim.max_epochs == 3 and quick.params == base.params
    assert quick.job_id != base.job_id


def test_encoding_accepts_comma_string() -> None:
    config = TrainConfig.from_flat({"encoding": "one_hot,aa_index"})
    assert config.data.encoding == ("one_hot", "aa_index")


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"model": "fc", "units": 0}, "units: expected an integer in [1, 100_000], got 0"),
        ({"model": "fc", "units": -5}, "units: expected an integer in [1, 100_000], got -5"),
        ({"model": "fc", "layers": 0}, "layers: expected an integer in [1, 100], got 0"),
        ({"model": "cnn", "layers": -1}, "layers: expected an integer in [1, 100], got -1"),
        ({"model": "fc", "dropout": 1}, "dropout: expected a number in [0, 1), got 1"),
        ({"model": "cnn", "dropout": -0.1}, "dropout: expected a number in [0, 1), got -0.1"),
        ({"model": "gcn", "threshold": -7}, "threshold: expected a number in (0, 1_000], got -7"),
        ({"model": "gcn", "graph": "knn", "k": 0}, "k: expected an integer in [1, 100_000]"),
        ({"seed": -1}, "seed: expected an integer in [0, 4_294_967_295], got -1"),
        ({"seed": 2**32}, "seed: expected an integer in [0, 4_294_967_295], got 4294967296"),
        ({"split": "random", "split_seed": 2**40}, "split_seed: expected an integer in [0,"),
        ({"learning_rate": 1e300}, "learning_rate: expected a number in (0, 10], got 1e+300"),
        ({"learning_rate": float("inf")}, "learning_rate: expected a number in (0, 10], got inf"),
        ({"max_epochs": float("inf")}, "max_epochs: expected an integer in [1, 100_000], got inf"),
        ({"max_epochs": "1e999"}, "max_epochs: expected an integer in [1, 100_000], got '1e999'"),
        ({"patience": 2**70}, "patience: expected an integer in [0, 100_000]"),
        ({"batch_size": 10**30}, "batch_size: expected an integer in [1, 1_048_576]"),
        ({"split": "random", "max_variants": 2**63}, "max_variants: expected an integer in [10,"),
        ({"min_delta": -1}, "min_delta: expected a number in [0, 1_000_000], got -1"),
        ({"dataset": " "}, "dataset: expected a dataset name"),
    ],
)
def test_every_value_is_checked_against_its_range(flat: dict, message: str) -> None:
    """issue 8: out-of-range values fail here, naming key and range, not in TensorFlow."""
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_flat(flat, source="--set")
    assert message in str(err.value), str(err.value)


def test_a_bool_never_reuses_a_section_cached_for_an_int() -> None:
    TrainConfig.from_flat({"model": "fc", "layers": 1})
    with pytest.raises(ConfigError, match="boolean"):
        TrainConfig.from_flat({"model": "fc", "layers": True})


def test_job_id_of_the_typed_config_is_the_job_id_of_its_flat_form() -> None:
    """One definition: the cached TrainConfig.job_id equals job_id() of the flat mapping."""
    for flat in (
        {"model": "gcn", "graph": "knn", "seed": 0, "learning_rate": 3e-4},
        {"model": "cnn", "seed": 4_294_967_295, "encoding": "one_hot", "split": "random"},
        {"model": "fc", "seed": 12, "train_fraction": 0.25, "split_seed": 3},
    ):
        config = TrainConfig.from_flat(flat)
        assert config.job_id == job_id(config.to_flat())
