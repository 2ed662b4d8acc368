"""Variant strings -> int8 residue codes, and every way a variant can be wrong."""

from __future__ import annotations

import numpy as np
import pytest

from dmsweep.data import ALPHABET, encode_variants, parse_variant_list
from dmsweep.errors import DataError, VariantError

WT = "MKTAYIAK"


def codes_of(sequence: str) -> list[int]:
    return [ALPHABET.index(c) for c in sequence]


def test_alphabet_is_nn4dms_amino_acid_order_then_stop():
    assert ALPHABET == "ACDEFGHIKLMNPQRSTVWY*"
    assert len(ALPHABET) == 21


def test_mutations_are_applied_to_the_wild_type():
    codes = encode_variants(["_wt", "", "M0A", "K1R,A6*", "T2T"], WT)
    assert codes.dtype == np.int8
    assert codes.shape == (5, len(WT))
    assert codes[0].tolist() == codes_of(WT)
    assert codes[1].tolist() == codes_of(WT)
    assert codes[2].tolist() == codes_of("AKTAYIAK")
    assert codes[3].tolist() == codes_of("MRTAYI*K")
    assert codes[4].tolist() == codes_of(WT)


def test_offset_shifts_positions():
    codes = encode_variants(["M126A", "K133R"], WT, offset=126)
    assert codes[0].tolist() == codes_of("AKTAYIAK")
    assert codes[1].tolist() == codes_of("MKTAYIAR")


def test_empty_input_gives_an_empty_array():
    assert encode_variants([], WT).shape == (0, len(WT))


@pytest.mark.parametrize(
    ("variant", "problem"),
    [
        ("A1R", "position 1 is K in the wild type"),
        ("K8R", "position 8 is out of range (0..7)"),
        ("M-1A", "position -1 is out of range (0..7)"),
        ("M0B", "unknown amino acid 'B'"),
        ("m0A", "unknown amino acid 'm'"),
        ("M0", "bad syntax in 'M0'"),
        ("M0A K1R", "bad syntax in 'M0A K1R'"),
        ("M0A,", "bad syntax in ''"),
        ("0A", "bad syntax"),
        ("M0A,M0C", "position 0 is mutated more than once"),
    ],
)
def test_bad_variants_raise_one_line_naming_source_row_variant_and_problem(variant, problem):
    with pytest.raises(VariantError) as caught:
        encode_variants(["M0A", variant], WT, source="input.txt")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"input.txt, row 2: {variant}: ")
    assert problem in message
    assert isinstance(caught.value, DataError)


def test_first_row_numbers_rows_for_files_with_a_header():
    with pytest.raises(VariantError, match=r"^t.tsv, row 3: A1R: "):
        encode_variants(["M0A", "A1R"], WT, source="t.tsv", first_row=2)


def test_the_wild_type_must_be_amino_acids():
    with pytest.raises(VariantError, match="unknown residue"):
        encode_variants(["_wt"], "MKX")
    with pytest.raises(VariantError, match="empty"):
        encode_variants(["_wt"], "")


def test_parse_variant_list_splits_on_whitespace_newlines_and_semicolons():
    assert parse_variant_list("G177L,M189T L142K") == ["G177L,M189T", "L142K"]
    assert parse_variant_list(" a;b\n c ;; \t d\n") == ["a", "b", "c", "d"]
    assert parse_variant_list("   ") == []
