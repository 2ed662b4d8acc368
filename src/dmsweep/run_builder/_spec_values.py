"""Low-level helpers of sweep-spec parsing: a strict YAML loader and per-key value coercion.

Values are coerced by the type of the flat config key they belong to, with the same rules as
`dmsweep.config` (YAML's `1e-4` arrives as a string and becomes a float; `3.0` for an int
becomes 3; booleans are never numbers), so that a condition such as `when: {layers: 1}` and
the resulting `TrainConfig` see the same values.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from dmsweep._yaml import strict_yaml
from dmsweep.config import (
    DEFAULT_SEED,
    MODEL_PARAMS,
    MODEL_TYPES,
    DataConfig,
    OptimConfig,
    all_flat_keys,
    field_type,
)
from dmsweep.config import coerce as config_coerce
from dmsweep.errors import ConfigError


class SpecError(Exception):
    """A problem at a key path; `load_spec` turns it into ConfigError("<file>: <path>: <msg>")."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


KEY_TYPES: dict[str, type] = {key: field_type(key) for key in all_flat_keys()}
"""The scalar type of every flat config key."""


def _defaults() -> dict[str, dict[str, Any]]:
    """Per model: the dataclass default of every flat key (None where there is none)."""
    out: dict[str, dict[str, Any]] = {}
    for model in MODEL_TYPES:
        values: dict[str, Any] = {"model": model, "seed": DEFAULT_SEED}
        for cls in (MODEL_PARAMS[model], DataConfig, OptimConfig):
            for f in fields(cls):
                value = f.default if f.default is not MISSING else None
                values[f.name] = tuple(value) if isinstance(value, list) else value
        out[model] = values
    return out


DEFAULTS: dict[str, dict[str, Any]] = _defaults()


def type_name(typ: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", tuple: "a list of names"}[typ]


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def coerce(key: str, value: Any, path: str) -> Any:
    """One value of flat key `key`, coerced and range-checked by `dmsweep.config.coerce` (the
    one place that knows each key's type and range), or SpecError naming `path`."""
    if value is None or (isinstance(value, dict | list) and KEY_TYPES[key] is not tuple):
        raise SpecError(path, f"expected {type_name(KEY_TYPES[key])}, got {describe(value)}")
    try:
        return config_coerce(key, value)
    except ConfigError as err:
        raise SpecError(path, str(err).removeprefix(f"{key}: ")) from None


def to_number(value: Any) -> float | int | None:
    """int/float, or a numeric string such as YAML's '1e-4'; None if it is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file safely (never executes anything); errors carry the line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("", "sweep spec not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError("", f"cannot read the sweep spec ({err})") from None
    try:
        return strict_yaml(text)
    except ValueError as err:
        raise SpecError("", str(err)) from None
