"""Strict, safe reading of the YAML (and JSON) a user gives: sweep specs, `--config` files.

A SafeLoader subclass (never constructs Python objects) that refuses duplicate keys (YAML
and JSON silently keep the last one) and non-scalar keys; errors are one line with the line
and column. Used by the sweep spec parser and by `dmsweep train --config` alike.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

MAX_DEPTH = 100
"""Deeper nesting is refused: no config or spec needs it, and parsers recurse on it."""


_SafeBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


class _StrictLoader(_SafeBase):  # type: ignore[misc,valid-type]
    """A safe loader (never constructs Python objects) that refuses duplicate keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def strict_yaml(text: str) -> Any:
    """The parsed document; ValueError("line L, column C: <problem>") when it is not valid."""
    _check_depth(text)
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: never runs code
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        raise ValueError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"YAML syntax error: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None


def strict_json(text: str) -> Any:
    """json.loads refusing duplicate keys, NaN/Infinity and deep nesting (ValueError)."""
    _check_depth(text)

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number in JSON")

    try:
        return json.loads(text, object_pairs_hook=unique, parse_constant=constant)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before a recursive parser sees it (brackets and
    braces outside strings are counted; quotes are honoured roughly, which errs on refusing)."""
    depth = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        elif char in "]}":
            depth -= 1
