"""Published and seeded random splits of the real avGFP data, and bad split files."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from dmsweep.config import DataConfig
from dmsweep.data import Split, load_dataset, make_split
from dmsweep.errors import DataError


@pytest.fixture(scope="module")
def avgfp(data_dir):
    return load_dataset("avgfp", data_dir=data_dir)


def assert_valid(split: Split, n: int) -> None:
    parts = [split.train, split.tune, split.test]
    for rows in parts:
        assert rows.dtype == np.int64 and rows.ndim == 1
        assert (np.diff(rows) > 0).all() and rows[0] >= 0 and rows[-1] < n
    assert len(np.unique(np.concatenate(parts))) == sum(len(rows) for rows in parts)


def test_main_split_has_the_published_sizes(avgfp, data_dir):
    split = make_split(avgfp, DataConfig(split="main"))
    assert split.sizes() == {"train": 43_758, "tune": 4_863, "test": 5_403}
    assert_valid(split, len(avgfp))
    stest = np.loadtxt(data_dir / "avgfp" / "splits" / "main" / "stest.txt", dtype=np.int64)
    assert np.array_equal(split.test, np.sort(stest))
    assert (split.assignment(len(avgfp)) > 0).all()  # main uses every row


def test_replicate_splits_read_test_txt(avgfp):
    split = make_split(avgfp, DataConfig(split="main_replicates/standard_rep_0"))
    assert_valid(split, len(avgfp))
    assert split.sizes() == {"train": 43_758, "tune": 4_863, "test": 5_403}


def test_checksums_hash_sorted_little_endian_int64(avgfp):
    split = make_split(avgfp, DataConfig(split="main"))
    sums = split.checksums()
    assert set(sums) == {"train", "tune", "test"}
    expected = hashlib.sha256(np.sort(split.tune).astype("<i8").tobytes()).hexdigest()
    assert sums["tune"] == f"sha256:{expected}"


def test_assignment_codes(avgfp):
    split = Split(train=np.array([0, 3]), tune=np.array([1]), test=np.array([4]))
    assert split.assignment(6).tolist() == [1, 2, 0, 1, 3, 0]
    assert split.assignment(6).dtype == np.int8
    with pytest.raises(DataError, match="beyond a dataset of 4 rows"):
        split.assignment(4)


def test_random_split_is_seeded(avgfp):
    def random(seed, **extra):
        return make_split(avgfp, DataConfig(split="random", split_seed=seed, **extra))

    first, again, other = random(0), random(0), random(1)
    assert_valid(first, len(avgfp))
    assert first.checksums() == again.checksums()
    assert first.checksums()["test"] != other.checksums()["test"]
    n = len(avgfp)
    assert first.sizes() == {
        "train": n - 2 * round(0.1 * n),
        "tune": round(0.1 * n),
        "test": round(0.1 * n),
    }
    capped = random(3, max_variants=1000, tune_fraction=0.2, test_fraction=0.3)
    assert capped.sizes() == {"train": 500, "tune": 200, "test": 300}
    assert_valid(capped, n)


def test_train_fraction_shrinks_train_only_and_is_nested(avgfp):
    full = make_split(avgfp, DataConfig(split="main"))
    half = make_split(avgfp, DataConfig(split="main", train_fraction=0.5, split_seed=4))
    tenth = make_split(avgfp, DataConfig(split="main", train_fraction=0.1, split_seed=4))
    other = make_split(avgfp, DataConfig(split="main", train_fraction=0.1, split_seed=5))
    assert len(half.train) == round(0.5 * 43_758) and len(tenth.train) == round(0.1 * 43_758)
    assert np.array_equal(half.tune, full.tune) and np.array_equal(half.test, full.test)
    assert np.isin(half.train, full.train).all()
    assert np.isin(tenth.train, half.train).all()  # same seed: smaller sets nest
    assert not np.array_equal(tenth.train, other.train)
    assert_valid(tenth, len(avgfp))


def test_random_split_with_train_fraction(avgfp):
    split = make_split(
        avgfp, DataConfig(split="random", split_seed=2, train_fraction=0.25, max_variants=400)
    )
    assert split.sizes() == {"train": 80, "tune": 40, "test": 40}


def test_extrapolation_split_trains_on_few_mutations_and_tests_on_more(avgfp):
    def extrapolation(k, **extra):
        config = DataConfig(split="extrapolation", max_train_mutations=k, **extra)
        return make_split(avgfp, config)

    split = extrapolation(3)
    assert_valid(split, len(avgfp))
    counts = avgfp.num_mutations
    assert counts[split.train].max() <= 3 and counts[split.tune].max() <= 3
    assert counts[split.test].min() == 4
    assert (split.assignment(len(avgfp)) > 0).all()  # every variant is in one part
    pool = int((counts <= 3).sum())
    assert split.sizes() == {
        "train": pool - round(0.1 * pool),
        "tune": round(0.1 * pool),
        "test": int((counts > 3).sum()),
    }
    assert extrapolation(3).checksums() == split.checksums()  # seeded
    other = extrapolation(3, split_seed=1, tune_fraction=0.2)
    assert other.checksums()["tune"] != split.checksums()["tune"]
    assert np.array_equal(other.test, split.test) and len(other.tune) == round(0.2 * pool)
    reduced = extrapolation(3, train_fraction=0.5)
    assert len(reduced.train) == round(0.5 * len(split.train))
    assert np.isin(reduced.train, split.train).all()
    with pytest.raises(DataError, match=r"max_train_mutations 15 leaves an empty part .* 0 test"):
        extrapolation(15)


def test_unknown_split_lists_a_few_real_splits_closest_first(avgfp):
    """issue 7: not ~100 folders (non-split ones included) but a few real splits, closest first."""
    with pytest.raises(DataError) as caught:
        make_split(avgfp, DataConfig(split="mian"))
    message = str(caught.value)
    assert "splits/mian/train.txt: split file not found: no split 'mian' in dataset" in message
    assert "closest first: main, " in message and "(57 in all); or random)" in message
    listed = message.split("closest first: ")[1].split(", ...")[0].split(", ")
    assert len(listed) == 5 and listed[0] == "main"
    assert "\n" not in message


def test_folders_that_are_not_splits_are_not_offered(copied):
    (copied / "avgfp" / "splits" / "half").mkdir()
    (copied / "avgfp" / "splits" / "half" / "train.txt").write_text("0\n")  # no tune, no test
    (copied / "avgfp" / "splits" / "group" / "inner").mkdir(parents=True)
    dataset = load_dataset("avgfp", data_dir=copied)
    with pytest.raises(DataError, match=r"closest first: mine; or random\)$"):
        make_split(dataset, DataConfig(split="mien"))


@pytest.fixture()
def copied(tmp_path, data_dir):
    """A writable data dir: the real table (same checksum), splits written by the test."""
    folder = tmp_path / "avgfp"
    folder.mkdir()
    for name in ("avgfp.tsv", "avgfp_rosetta_model.pdb"):
        shutil.copyfile(data_dir / "avgfp" / name, folder / name)
    split = folder / "splits" / "mine"
    split.mkdir(parents=True)
    (split / "train.txt").write_text("0\n1\n2\n")
    (split / "tune.txt").write_text("3\n")
    (split / "test.txt").write_text("4\n")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "tune.txt",
            "3\n54024\n",
            r"tune.txt, line 2: row index 54024 is out of range \(the table has 54024 rows\)",
        ),
        ("tune.txt", "3\n-1\n", r"tune.txt, line 2: row index -1 is out of range"),
        ("train.txt", "0\n1\nx7\n", r"train.txt, line 3: 'x7' is not a row index"),
        ("train.txt", "0\n1\n1\n", r"train.txt: row index 1 is listed more than once"),
        ("test.txt", "\n\n", r"test.txt: no row indices"),
        ("test.txt", "2\n", r"row 2 is in both train.txt and test.txt"),
    ],
)
def test_bad_split_files_name_file_and_line(copied, avgfp, name, text, message):
    (copied / "avgfp" / "splits" / "mine" / name).write_text(text)
    dataset = load_dataset("avgfp", data_dir=copied)
    with pytest.raises(DataError, match=message) as caught:
        make_split(dataset, DataConfig(split="mine"))
    assert "\n" not in str(caught.value)


def test_a_missing_split_part(copied):
    (copied / "avgfp" / "splits" / "mine" / "tune.txt").unlink()
    dataset = load_dataset("avgfp", data_dir=copied)
    with pytest.raises(
        DataError, match=r"mine/tune.txt: split file not found: .*closest first: none; or random"
    ):
        make_split(dataset, DataConfig(split="mine"))


def test_a_small_published_split(copied):
    dataset = load_dataset("avgfp", data_dir=copied)
    split = make_split(dataset, DataConfig(split="mine"))
    assert split.train.tolist() == [0, 1, 2] and split.tune.tolist() == [3]
    assert split.test.tolist() == [4]
