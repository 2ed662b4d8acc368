"""Variant strings ("A108D,N144D") to int8 residue codes of the mutated wild type.

A mutation is `<wild-type residue><position><new residue>`; positions count from the card's
`offset` (0 for avGFP, so `A108D` changes the residue at index 108). A variant is its
mutations joined by commas; `_wt` or an empty string is the wild type itself. The new residue
may be `*` (stop). Every problem raises a one-line `VariantError` naming where it happened.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from dmsweep.errors import VariantError

ALPHABET: str = "ACDEFGHIKLMNPQRSTVWY*"
"""The 20 amino acids in nn4dms order, then the stop codon; a residue's code is its index.

nn4dms itself puts `*` first (code 0); here it is last (code 20), so that the amino acids keep
codes 0..19 and the rows of the AAindex table line up with them. Encodings are tables indexed
by these codes, so the choice changes nothing but column order.
"""

WILD_TYPE_NAMES = ("_wt", "")
"""Variant strings that mean the unmutated wild type."""

_CODE = {residue: code for code, residue in enumerate(ALPHABET)}
_MUTATION = re.compile(r"([A-Za-z*])(-?\d+)([A-Za-z*])")
_VARIANT_SEPARATORS = re.compile(r"[\s;]+")
_SEQUENCE = re.compile(r"[A-Za-z*]+")


def encode_variants(
    variants: Sequence[str],
    wild_type: str,
    *,
    offset: int = 0,
    source: str = "<variants>",
    first_row: int = 1,
    row_name: str = "row",
) -> np.ndarray:
    """int8 (n, L) residue codes: the wild type with each variant's mutations applied.

    Errors read `<source>, <row_name> <number>: <variant>: <problem>`, numbering the first
    variant `first_row` (a table loader passes `first_row=2, row_name="line"` to name lines
    of a file with a header).
    """
    return _encode(
        variants,
        wild_type,
        offset=offset,
        where=lambda i: f"{source}, {row_name} {first_row + i}",
    )


def parse_variant_list(text: str) -> list[str]:
    """Variants from command-line input: whitespace, newlines or ';' separate variants.

    `"G177L,M189T L142K"` -> `["G177L,M189T", "L142K"]`. Spaces after commas inside one
    variant are not allowed (they would make two variants); the result is not validated here,
    pass it to `encode_variants`.
    """
    return [v for v in _VARIANT_SEPARATORS.split(text.strip()) if v]


def looks_like_sequence(text: str) -> bool:
    """True for a string of residue letters only (no position digits, no commas): a full
    sequence, not a variant. `_wt` and the empty string are variants (the wild type)."""
    return bool(text) and text not in WILD_TYPE_NAMES and _SEQUENCE.fullmatch(text) is not None


def sequence_variant(sequence: str, wild_type: str, *, offset: int = 0) -> str:
    """The variant that turns `wild_type` into `sequence` ("A108D,N144D"; `_wt` if equal).

    Servers accept a full mutant sequence in place of a variant; a sequence of another length
    cannot be aligned position by position and raises VariantError with the problem only
    (the caller adds where it happened, as `encode_variants` does)."""
    if len(sequence) != len(wild_type):
        raise VariantError(
            f"a sequence of {len(sequence)} residues: expected {len(wild_type)} (the wild "
            "type's length), or a variant such as A108D"
        )
    bad = sorted({c for c in sequence.upper() if c not in _CODE})
    if bad:
        raise VariantError(f"unknown amino acid(s) {''.join(bad)!r} (expected one of {ALPHABET})")
    changes = [
        f"{old}{offset + i}{new}"
        for i, (old, new) in enumerate(zip(wild_type, sequence.upper(), strict=True))
        if old != new
    ]
    return ",".join(changes) if changes else WILD_TYPE_NAMES[0]


def count_mutations(variants: Sequence[str]) -> np.ndarray:
    """int16 (n,): mutations per variant (0 for the wild type)."""
    return np.fromiter(
        (0 if v in WILD_TYPE_NAMES else v.count(",") + 1 for v in variants),
        dtype=np.int16,
        count=len(variants),
    )


def _encode(
    variants: Sequence[str],
    wild_type: str,
    *,
    offset: int,
    where: Callable[[int], str],
) -> np.ndarray:
    """The vectorised core: each distinct mutation is parsed once, then applied by indexing.

    `where(i)` names variant i in an error message (file and line, or row).
    """
    wt = wild_type_codes(wild_type)
    n, length = len(variants), len(wt)
    rows: list[int] = []
    mutations: list[str] = []
    for i, variant in enumerate(variants):
        if variant in WILD_TYPE_NAMES:
            continue
        parts = variant.split(",")
        rows.extend([i] * len(parts))
        mutations.extend(parts)

    parsed: dict[str, tuple[int, int]] = {}
    positions = np.empty(len(mutations), dtype=np.int64)
    new_codes = np.empty(len(mutations), dtype=np.int8)
    for j, mutation in enumerate(mutations):
        hit = parsed.get(mutation)
        if hit is None:
            problem = _check_mutation(mutation, wild_type, offset)
            if problem:
                i = rows[j]
                raise VariantError(f"{where(i)}: {variants[i]}: {problem}")
            hit = parsed[mutation] = (int(mutation[1:-1]) - offset, _CODE[mutation[-1]])
        positions[j], new_codes[j] = hit

    codes = np.tile(wt, (n, 1))
    row_index = np.asarray(rows, dtype=np.int64)
    flat = row_index * length + positions
    unique, first, counts = np.unique(flat, return_index=True, return_counts=True)
    if len(unique) < len(flat):
        j = int(first[np.argmax(counts > 1)])
        i = rows[j]
        raise VariantError(
            f"{where(i)}: {variants[i]}: position {positions[j] + offset} is mutated more than once"
        )
    codes[row_index, positions] = new_codes
    return codes


def _check_mutation(mutation: str, wild_type: str, offset: int) -> str:
    """The problem with one mutation, or '' when it applies to the wild type."""
    match = _MUTATION.fullmatch(mutation)
    if match is None:
        return (
            f"bad syntax in {mutation!r} (expected <wild-type residue><position><new residue>, "
            "e.g. A108D; mutations joined by commas)"
        )
    old, position_text, new = match.groups()
    for residue in (old, new):
        if residue not in _CODE:
            return f"unknown amino acid {residue!r} in {mutation} (expected one of {ALPHABET})"
    position = int(position_text)
    index = position - offset
    if not 0 <= index < len(wild_type):
        first, last = offset, offset + len(wild_type) - 1
        return f"position {position} is out of range ({first}..{last})"
    if wild_type[index] != old:
        return f"position {position} is {wild_type[index]} in the wild type"
    return ""


def wild_type_codes(wild_type: str) -> np.ndarray:
    """int8 (L,) codes of a wild-type sequence; only the 20 amino acids are allowed."""
    bad = sorted({c for c in wild_type if c not in _CODE or c == "*"})
    if not wild_type or bad:
        problem = "is empty" if not wild_type else f"has unknown residue(s) {''.join(bad)!r}"
        raise VariantError(
            f"wild_type: the sequence {problem} (expected letters of {ALPHABET[:20]})"
        )
    return np.array([_CODE[c] for c in wild_type], dtype=np.int8)
