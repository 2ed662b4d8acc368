"""What `dmsweep serve` was asked for, checked before anything heavy loads.

`ServeSettings` is one typed record: the command line builds it, and with `--workers N` it
travels to each uvicorn worker process as JSON in an environment variable (a worker is a
fresh interpreter that imports the app by name). Nothing here imports FastAPI or TensorFlow,
so `dmsweep serve --help` and refusals (a public host without a token) are instant.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dmsweep.errors import ConfigError

SETTINGS_ENV = "DMSWEEP_SERVE_SETTINGS"
"""The environment variable that hands `ServeSettings` (JSON) to worker processes."""
DEFAULT_MAX_INSTANCES = 10_000
DEFAULT_MAX_BODY_BYTES = 10_000_000
DEFAULT_BATCH_SIZE = 256
"""Rows per model call: concurrent requests share a call up to this many variants."""
_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")


@dataclass(frozen=True)
class ServeSettings:
    """Everything a server process needs: the models to serve and the limits of a request."""

    folders: tuple[str, ...]
    """Job folders, in the order given (resolved from TARGETs by `dmsweep.serve.models`)."""
    names: tuple[str, ...]
    """The model name of each folder: its job id, or `best-<type>`."""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token: str | None = None
    max_instances: int = DEFAULT_MAX_INSTANCES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    batch_size: int = DEFAULT_BATCH_SIZE
    data_dir: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        """The record a parent process wrote (ConfigError naming the field when damaged)."""
        try:
            data: Any = json.loads(text)
        except ValueError as err:
            raise ConfigError(f"${SETTINGS_ENV}: not JSON ({err})") from None
        if type(data) is not dict:
            raise ConfigError(f"${SETTINGS_ENV}: expected a JSON object")
        try:
            data["folders"], data["names"] = tuple(data["folders"]), tuple(data["names"])
            return cls(**data)
        except (KeyError, TypeError) as err:
            raise ConfigError(f"${SETTINGS_ENV}: {err}") from None


def byte_size(text: str) -> int:
    """argparse type of `--max-body-bytes`: 10000000, 10MB, 512k, 1MiB (>= 1 byte)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"expected a size such as 10MB, 512kB or 1000000, got {text!r}")
    number, unit = match.groups()
    unit = (unit or "").lower()
    base = 1024 if "i" in unit else 1000
    scale = 1 if unit in ("", "b") else base ** ("kmg".index(unit[0]) + 1)
    value = int(number) * scale
    if value < 1:
        raise ValueError(f"expected at least 1 byte, got {text!r}")
    return value


def is_loopback(host: str) -> bool:
    """True for a host only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: Path | None, host: str) -> str | None:
    """The bearer token every request must carry, or None (loopback without a token file).

    A server reachable from other machines without a token would score anyone's variants
    and reveal the model's metadata: binding to a non-loopback host needs --token-file."""
    if path is None:
        if not is_loopback(host):
            raise ConfigError(
                f"--host {host}: binding beyond loopback needs --token-file FILE (a bearer "
                "token that every request must send); or serve on 127.0.0.1"
            )
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"--token-file {path}: cannot read: {err}") from None
    if not token or any(c.isspace() for c in token):
        raise ConfigError(f"--token-file {path}: expected one token (no spaces, one line)")
    return token
