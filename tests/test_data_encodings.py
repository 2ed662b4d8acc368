"""Encoding tables: one-hot and AAindex rows in ALPHABET order."""

from __future__ import annotations

import numpy as np
import pytest

from dmsweep.data import ALPHABET, encoding_table
from dmsweep.data.encodings import encoding_checksums
from dmsweep.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def pca(data_dir):
    return np.load(data_dir / "aaindex" / "pca-19.npy")


def test_one_hot_is_the_identity(data_dir):
    table = encoding_table(["one_hot"], data_dir=data_dir)
    assert table.shape == (21, 21) and table.dtype == np.float32
    assert table[ALPHABET.index("A")].tolist() == [1.0] + [0.0] * 20
    assert np.array_equal(table, np.eye(21))


def test_aa_index_rows_follow_the_alphabet_and_stop_is_zero(data_dir, pca):
    table = encoding_table(["aa_index"], data_dir=data_dir)
    assert table.shape == (21, 19) and table.dtype == np.float32
    assert np.array_equal(table[0], pca[0])  # A
    assert np.array_equal(table[:20], pca)
    assert not table[ALPHABET.index("*")].any()


def test_encodings_concatenate_in_the_order_given(data_dir, pca):
    both = encoding_table(("one_hot", "aa_index"), data_dir=data_dir)
    assert both.shape == (21, 40)
    assert np.array_equal(both[:, :21], np.eye(21)) and np.array_equal(both[:20, 21:], pca)
    swapped = encoding_table(("aa_index", "one_hot"), data_dir=data_dir)
    assert np.array_equal(swapped[:, 19:], np.eye(21))


def test_a_lookup_encodes_codes(data_dir):
    table = encoding_table(("one_hot", "aa_index"), data_dir=data_dir)
    codes = np.array([[0, 20, 5]], dtype=np.int8)
    assert table[codes].shape == (1, 3, 40)


def test_unknown_or_no_encoding_is_refused():
    with pytest.raises(
        ConfigError, match=r"encoding: expected one of \['one_hot', 'aa_index'\], got 'blosum'"
    ):
        encoding_table(["blosum"])
    with pytest.raises(ConfigError, match="at least one"):
        encoding_table([])


def test_aa_index_from_the_env_data_dir_and_checked(monkeypatch, tmp_path, data_dir):
    monkeypatch.setenv("DMSWEEP_DATA_DIR", str(data_dir))
    assert encoding_table(["aa_index"]).shape == (21, 19)
    (tmp_path / "aaindex").mkdir()
    np.save(tmp_path / "aaindex" / "pca-19.npy", np.zeros((20, 19), dtype=np.float32))
    with pytest.raises(DataError, match=r"pca-19\.npy: checksum mismatch"):
        encoding_table(["aa_index"], data_dir=tmp_path)


def test_aa_index_downloads_into_the_cache(monkeypatch, tmp_path, data_dir):
    from dmsweep.data import encodings

    source = encodings.AAINDEX_SOURCE
    local = (data_dir / "aaindex" / "pca-19.npy").as_uri()
    monkeypatch.setattr(encodings, "AAINDEX_SOURCE", type(source)(local, source.sha256))
    monkeypatch.delenv("DMSWEEP_DATA_DIR", raising=False)
    table = encoding_table(["aa_index"], cache_dir=tmp_path)
    assert (tmp_path / "aaindex" / "pca-19.npy").is_file() and table.shape == (21, 19)


def test_encoding_checksums():
    assert encoding_checksums(["one_hot"]) == {}
    assert list(encoding_checksums(["one_hot", "aa_index"])) == ["aaindex/pca-19.npy"]
