"""Sweep expansion: deterministic ids and order, collapsing duplicates, conditional axes,
reproducible Sobol/random samples, batch planning, estimates, and the shipped specs' counts."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from dmsweep.config import TrainConfig, job_id
from dmsweep.errors import ConfigError
from dmsweep.run_builder.estimate import estimate
from dmsweep.run_builder.expand import PlannedTraining, expand, plan_batches
from dmsweep.run_builder.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
HEAD = "name: t\ndataset: avgfp\n"


def spec_of(tmp_path: Path, text: str, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_text(HEAD + text)
    return load_spec(path)


def flats(trainings: list[PlannedTraining]) -> list[dict]:
    return [t.config.to_flat() for t in trainings]


@pytest.fixture(scope="module")
def resampling():
    spec = load_spec(REPO / "sweeps" / "gfp_resampling.yaml")
    return spec, expand(spec)


@pytest.fixture(scope="module")
def main():
    spec = load_spec(REPO / "sweeps" / "gfp_main.yaml")
    return spec, expand(spec)


# --------------------------------------------------------------------------- shipped specs


def test_gfp_resampling_has_exactly_17820_trainings(resampling) -> None:
    spec, trainings = resampling
    assert len(trainings) == 17_820 == 99 * 4 * 3 * 3 * 5
    assert len({t.job_id for t in trainings}) == 17_820
    assert Counter(t.config.model for t in trainings) == dict.fromkeys(
        ["linear", "fc", "cnn", "gcn"], 4455
    )
    assert {t.config.data.split_seed for t in trainings} == set(range(99))
    assert {t.config.seed for t in trainings} == {1, 2, 3, 4, 5}
    assert {t.config.optim.learning_rate for t in trainings} == {1e-4, 3e-4, 1e-3}
    assert {t.config.optim.batch_size for t in trainings} == {32, 64, 128}
    assert {t.config.data.split for t in trainings} == {"random"}
    assert spec.axis_keys("resample") == ("split_seed",)
    assert spec.axis_keys("replicate") == ("seed",)


def test_gfp_main_is_the_published_grid(main) -> None:
    _spec, trainings = main
    per_model = Counter(t.config.model for t in trainings)
    # linear 1, FC 4, CNN 16 + 12, GCN (4 + 3) x 7 thresholds; x 2 learning rates x 3 batches
    assert per_model == {"linear": 6, "fc": 4 * 6, "cnn": 28 * 6, "gcn": 49 * 6}
    assert len(trainings) == 492
    gcn = [t.config for t in trainings if t.config.model == "gcn"]
    assert {c.params.threshold for c in gcn} == {4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0}
    assert {(c.params.layers, c.params.filters) for c in gcn} == {
        (1, 32), (1, 128), (1, 256), (1, 1024), (2, 128), (3, 128), (5, 128)
    }  # fmt: skip
    fc = {
        (t.config.params.layers, t.config.params.units) for t in trainings if t.config.model == "fc"
    }
    assert fc == {(1, 100), (1, 1000), (2, 100), (3, 100)}
    cnn = {
        (c.params.layers, c.params.kernel_size, c.params.filters)
        for c in (t.config for t in trainings)
        if c.model == "cnn"
    }
    assert len(cnn) == 28 and (5, 3, 128) in cnn and (1, 17, 1024) in cnn
    assert {t.config.optim.learning_rate for t in trainings} == {1e-4, 1e-3}
    assert {t.config.optim.batch_size for t in trainings} == {32, 64, 128}
    assert {(t.config.data.split, t.config.seed) for t in trainings} == {("main", 7)}


def test_demo_is_a_handful_of_small_trainings() -> None:
    spec = load_spec(REPO / "sweeps" / "demo.yaml")
    trainings = expand(spec)
    assert 4 <= len(trainings) <= 8
    assert {t.config.model for t in trainings} == {"linear", "fc", "cnn", "gcn"}
    for t in trainings:
        assert t.config.optim.max_epochs <= 10
        assert t.config.data.max_variants is not None and t.config.data.max_variants <= 5000
    batches = plan_batches(trainings, spec.trainings_per_job_by_model)
    assert sum(estimate(trainings, batches).cpu_hours_per_model.values()) * 60 < 10  # minutes


def test_planned_job_ids_are_the_configs_own(resampling, main) -> None:
    """One job id: the planned id is TrainConfig.job_id, which is job_id() of the flat form."""
    for _spec, trainings in (main, resampling):
        for t in trainings[::7]:
            plain = TrainConfig.from_flat(t.config.to_flat())
            assert plain == t.config
            assert plain.job_id == t.job_id == t.config.job_id == job_id(t.flat)
    first = main[1][0]
    first.flat["encoding"].append("mutated")
    first.flat["seed"] = -1
    assert first.flat == first.config.to_flat()  # a fresh copy each time


def test_no_second_job_id_implementation() -> None:
    """issue 7: expand.py had its own hashing (_fast_job_id, _canonical); one definition now."""
    source = (REPO / "src" / "dmsweep" / "run_builder" / "expand.py").read_text()
    assert "hashlib" not in source and "_canonical" not in source


# --------------------------------------------------------------------------- determinism


def test_expansion_is_deterministic(tmp_path: Path) -> None:
    text = (
        "models: {linear: {}, fc: {grid: {layers: [1, 2]}}}\n"
        "grid: {learning_rate: [1e-4, 1e-3], batch_size: [32, 64]}\n"
        "samples: {n: 4, seed: 3, ranges: {dropout: {low: 0.0, high: 0.5}}}\n"
        "replicates: {seed: [1, 2]}\n"
    )
    first = expand(spec_of(tmp_path, text, "a.yaml"))
    second = expand(spec_of(tmp_path, text, "b.yaml"))
    assert [t.job_id for t in first] == [t.job_id for t in second]
    assert flats(first) == flats(second)


def test_job_ids_do_not_depend_on_how_numbers_are_written(tmp_path: Path) -> None:
    a = expand(
        spec_of(tmp_path, "models: {linear: {}}\ngrid: {learning_rate: [1e-3, 1]}\n", "a.yaml")
    )
    b = expand(
        spec_of(tmp_path, "models: {linear: {}}\ngrid: {learning_rate: [0.001, 1.0]}\n", "b.yaml")
    )
    assert [t.job_id for t in a] == [t.job_id for t in b]


def test_order_follows_the_spec(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models: {fc: {grid: {layers: [3, 1]}}, linear: {}}\n"
        "grid: {batch_size: [64, 32]}\nresamples: {split_seed: [5, 4]}\n"
        "replicates: {seed: [2, 1]}\n"
        "fixed: {split: random}\n",
    )
    got = [
        (t.config.model, t.config.data.split_seed, t.config.optim.batch_size,
         getattr(t.config.params, "layers", None), t.config.seed)
        for t in expand(spec)
    ]  # fmt: skip
    assert got[:4] == [
        ("fc", 5, 64, 3, 2),
        ("fc", 5, 64, 3, 1),
        ("fc", 5, 64, 1, 2),
        ("fc", 5, 64, 1, 1),
    ]
    assert got[8] == ("fc", 4, 64, 3, 2)
    assert got[16:18] == [("linear", 5, 64, None, 2), ("linear", 5, 64, None, 1)]
    assert len(got) == 16 + 8


# --------------------------------------------------------------------------- duplicates


def test_identical_configs_collapse(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models:\n"
        "  gcn:\n"
        "    - {}\n"  # default: distance graph, threshold 7
        "    - grid: {threshold: [7, 7.0, 8]}\n"
        "    - fixed: {graph: distance, threshold: 8}\n",
    )
    trainings = expand(spec)
    assert [t.config.params.threshold for t in trainings] == [7.0, 8.0]
    assert len({t.job_id for t in trainings}) == 2


def test_spec_level_axes_skip_models_they_do_not_apply_to(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models: {linear: {}, cnn: {}, gcn: {}}\n"
        "grid: {filters: [16, 32], learning_rate: [0.001, 0.01]}\n"
        "samples: {n: 4, seed: 1, ranges: {kernel_size: {low: 3, high: 9}}}\n",
    )
    per_model = Counter(t.config.model for t in expand(spec))
    # linear: only learning_rate applies; gcn: filters x learning_rate (no kernel_size)
    assert per_model == {"linear": 2, "cnn": 2 * 2 * 4, "gcn": 2 * 2}


def test_conditional_axes_make_no_duplicates(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models:\n"
        "  gcn:\n"
        "    grid:\n"
        "      graph: [distance, knn]\n"
        "      threshold: {from: 4, to: 10, when: {graph: distance}}\n"
        "      k: {values: [4, 8], when: {graph: knn}}\n"
        "  cnn: {}\n"
        "  linear: {}\n"
        "grid:\n"
        "  filters: {values: [16, 32], when: {model: cnn}}\n"
        "  dropout: {values: [0.1, 0.3], when: {model: [cnn, gcn], filters: 32}}\n",
    )
    trainings = expand(spec)
    configs = [t.config for t in trainings]
    gcn = [c for c in configs if c.model == "gcn"]
    assert len(gcn) == 7 + 2  # filters/dropout do not apply to gcn: default filters 128
    assert {c.params.graph for c in gcn if c.params.k is not None} == {"knn"}
    assert {c.params.graph for c in gcn if c.params.threshold is not None} == {"distance"}
    cnn = [(c.params.filters, c.params.dropout) for c in configs if c.model == "cnn"]
    assert sorted(cnn) == [(16, 0.2), (32, 0.1), (32, 0.3)]
    assert sum(c.model == "linear" for c in configs) == 1
    assert len(trainings) == len({t.job_id for t in trainings}) == 13


def test_condition_on_a_later_axis_is_ordered(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models: {gcn: {grid: {threshold: {values: [5, 6], when: {graph: distance}}, "
        "graph: [knn, distance]}}}\n",
    )
    got = [(t.config.params.graph, t.config.params.threshold) for t in expand(spec)]
    assert got == [("knn", None), ("distance", 5.0), ("distance", 6.0)]


def test_block_setting_overrides_spec_level(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "fixed: {max_epochs: 100}\ngrid: {batch_size: [32, 64]}\n"
        "models: {linear: {fixed: {max_epochs: 5, batch_size: 16}}, fc: {}}\n",
    )
    got = {
        (t.config.model, t.config.optim.max_epochs, t.config.optim.batch_size) for t in expand(spec)
    }
    assert got == {("linear", 5, 16), ("fc", 100, 32), ("fc", 100, 64)}


def test_cyclic_conditions_are_refused(tmp_path: Path) -> None:
    from dmsweep.errors import ConfigError

    spec = spec_of(
        tmp_path,
        "models: {fc: {grid: {layers: {values: [1, 2], when: {units: 10}}, "
        "units: {values: [10, 20], when: {layers: 1}}}}}\n",
    )
    with pytest.raises(ConfigError, match=r"models\.fc: conditions form a cycle: layers .*units"):
        expand(spec)


# --------------------------------------------------------------------------- samples


SAMPLED = (
    "models: {{fc: {{}}}}\n"
    "samples:\n"
    "  method: {method}\n"
    "  n: 64\n"
    "  seed: {seed}\n"
    "  ranges:\n"
    "    learning_rate: {{low: 1.0e-5, high: 1.0e-2, log: true}}\n"
    "    units: {{low: 10, high: 1000, log: true}}\n"
    "    layers: {{low: 1, high: 3}}\n"
    "    dropout: {{choices: [0.1, 0.2, 0.5]}}\n"
)


@pytest.mark.parametrize("method", ["sobol", "random"])
def test_samples_are_reproducible_and_in_range(tmp_path: Path, method: str) -> None:
    a = expand(spec_of(tmp_path, SAMPLED.format(method=method, seed=11), "a.yaml"))
    b = expand(spec_of(tmp_path, SAMPLED.format(method=method, seed=11), "b.yaml"))
    c = expand(spec_of(tmp_path, SAMPLED.format(method=method, seed=12), "c.yaml"))
    assert flats(a) == flats(b)
    assert flats(a) != flats(c)
    assert len(a) == 64
    params = [(t.config.optim.learning_rate, t.config.params) for t in a]
    for lr, p in params:
        assert 1e-5 <= lr <= 1e-2
        assert 10 <= p.units <= 1000 and isinstance(p.units, int)
        assert p.layers in (1, 2, 3)
        assert p.dropout in (0.1, 0.2, 0.5)
    assert {p.layers for _, p in params} == {1, 2, 3}
    assert {p.dropout for _, p in params} == {0.1, 0.2, 0.5}
    # log scale: about a third of the points per decade
    decades = Counter(math.floor(math.log10(lr)) for lr, _ in params)
    assert set(decades) == {-5, -4, -3}
    assert all(10 <= count <= 34 for count in decades.values()), decades
    assert sum(p.units < 100 for _, p in params) in range(20, 45)  # log: half below 100


def test_sobol_points_are_stratified(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models: {linear: {}}\n"
        "samples: {n: 16, seed: 5, ranges: {learning_rate: {low: 1.0e-4, high: 1.0, log: true}}}\n",
    )
    assert spec.seed == 5
    logs = sorted(math.log10(t.config.optim.learning_rate) for t in expand(spec))
    bins = [math.floor((x + 4) / 4 * 16) for x in logs]
    assert bins == list(range(16))  # one point in each sixteenth of the log range


def test_samples_match_scipy_sobol_with_the_recorded_seed(tmp_path: Path) -> None:
    import numpy as np
    from scipy.stats import qmc

    spec = spec_of(
        tmp_path,
        "models: {linear: {}}\n"
        "samples: {n: 8, seed: 9, ranges: {learning_rate: {low: 0.001, high: 0.002}}}\n",
    )
    unit = qmc.Sobol(1, scramble=True, rng=np.random.default_rng(9)).random(8)[:, 0]
    expected = [float(f"{0.001 + u * 0.001:.6g}") for u in unit]
    assert [t.config.optim.learning_rate for t in expand(spec)] == expected


# --------------------------------------------------------------------------- batches


def test_batches_never_mix_resource_classes(resampling) -> None:
    spec, trainings = resampling
    batches = plan_batches(trainings, spec.trainings_per_job_by_model)
    assert [b.batch_id for b in batches] == [f"b{i:06d}" for i in range(1, len(batches) + 1)]
    seen = [t.job_id for b in batches for t in b.trainings]
    assert sorted(seen) == sorted(t.job_id for t in trainings) and len(seen) == len(set(seen))
    for batch in batches:
        models = {t.config.model for t in batch.trainings}
        assert len(models) == 1
        assert {t.resources for t in batch.trainings} == {batch.resources}
        assert 1 <= len(batch.trainings) <= spec.per_job_for(models.pop())
    per_model = Counter(b.trainings[0].config.model for b in batches)
    assert per_model == {"linear": 446, "fc": 446, "cnn": 2228, "gcn": 2228}
    assert plan_batches(trainings, spec.trainings_per_job_by_model) == batches  # stable


def test_batches_split_by_resources_within_a_model(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models: {linear: {}, fc: {}, gcn: {}}\ngrid: {learning_rate: [0.1, 0.2, 0.3]}\n"
        "resources: {default: {memory_mb: 1000}, gcn: {memory_mb: 3000}}\n",
    )
    trainings = expand(spec)
    batches = plan_batches(trainings, 2)
    assert [len(b.trainings) for b in batches] == [2, 1, 2, 1, 2, 1]
    assert [b.resources.memory_mb for b in batches] == [1000] * 4 + [3000] * 2
    assert [t.job_id for b in batches for t in b.trainings] == [t.job_id for t in trainings]
    assert len(plan_batches(trainings, 100)) == 3
    assert len(plan_batches(trainings, {"default": 100, "gcn": 1})) == 5


def test_plan_batches_refuses_bad_sizes() -> None:
    from dmsweep.errors import ConfigError

    with pytest.raises(ConfigError):
        plan_batches([], 0)


# --------------------------------------------------------------------------- estimate


def test_estimate_is_sane(resampling) -> None:
    spec, trainings = resampling
    batches = plan_batches(trainings, spec.trainings_per_job_by_model)
    est = estimate(trainings, batches)
    assert est.trainings == 17_820
    assert est.jobs == len(batches)
    hours = est.cpu_hours_per_model
    assert 0 < hours["linear"] < hours["fc"] < hours["cnn"]
    assert hours["gcn"] > 0
    # linear: seconds to minutes per training; CNN/GCN: tens of minutes to hours
    assert 10 / 3600 < hours["linear"] / 4455 < 0.2
    assert 0.1 < hours["cnn"] / 4455 < 5
    assert 1_000 < est.cpu_hours < 100_000
    disk = est.disk_mb_per_model
    assert 0.1 < disk["linear"] / 4455 < 5 and 1 < disk["gcn"] / 4455 < 200
    lines = est.lines()
    assert lines[0].split()[:3] == ["model", "trainings", "jobs"]
    assert lines[-2].startswith("total") and "17,820" in lines[-2]


def test_estimate_scales_with_data_and_epochs(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models: {cnn: {}}\nfixed: {split: random, max_epochs: 10, patience: 0}\n"
        "grid: {max_variants: [1000, 10000]}\n",
    )
    small, large = (estimate([t], plan_batches([t], 1)).cpu_hours for t in expand(spec))
    assert small < large


def test_replaced_spec_is_expanded_afresh(tmp_path: Path) -> None:
    import dataclasses

    from dmsweep.run_builder.spec import Resources

    spec = spec_of(tmp_path, "models: {linear: {}}\n")
    bigger = dataclasses.replace(spec, resources={"default": Resources(memory_mb=9999)})
    assert expand(bigger)[0].resources.memory_mb == 9999
    assert expand(spec)[0].resources.memory_mb == 2048


def test_a_condition_that_never_holds_is_refused(tmp_path: Path) -> None:
    """issue 8: `when: {layers: 1}` in a block whose layers is always 2 used to be ignored."""
    spec = spec_of(
        tmp_path,
        "models:\n  fc: {grid: {layers: [1, 2]}}\n  cnn: {grid: {filters: "
        "{values: [8, 16], when: {layers: 1}}}}\n",
    )
    with pytest.raises(ConfigError, match=r"models.cnn.grid.filters.when: this condition never"):
        expand(spec)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "models: {fc: {}}\ngrid: {learning_rate: {from: 0.001, to: 0.002, step: 1.0e-9}}\n",
            "grid.learning_rate: 1,000,001 values (from:/to:/step:): more than 1,000,000",
        ),
        (
            "models: {fc: {}}\nsamples: {n: 10000000, seed: 1, "
            "ranges: {learning_rate: {low: 1.0e-4, high: 0.1}}}\n",
            "samples.n: 10,000,000 points: more than 1,000,000 are refused",
        ),
        (
            "models: {fc: {}}\ngrid: {seed: [" + ", ".join(map(str, range(1_000_001))) + "]}\n",
            "grid.seed: 1,000,001 values: more than 1,000,000 are refused",
        ),
    ],
)
def test_huge_axes_are_refused_at_once_with_the_count(tmp_path: Path, text, words) -> None:
    with pytest.raises(ConfigError) as err:
        spec_of(tmp_path, text)
    assert words in str(err.value)


def test_max_trainings_refuses_before_building(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "models: {fc: {}}\ngrid: {seed: {from: 0, to: 999}, units: {from: 1, to: 999}, "
        "layers: {from: 1, to: 99}}\n",
    )
    with pytest.raises(
        ConfigError,
        match=r"expands to at least 9\d,\d{3},\d{3} trainings, more "
        r"than --max-trainings 1,000,000",
    ):
        expand(spec)
    assert len(expand(spec_of(tmp_path, "models: {fc: {}}\n"), max_trainings=1)) == 1
