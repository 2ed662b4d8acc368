"""Database addresses (`dmsweep.core.dbaddress`, where the config layer reads them too)."""

from __future__ import annotations

from dmsweep.core.dbaddress import (
    DEFAULT_DATABASE,
    ENV_CREDENTIALS,
    ENV_PASSWORD,
    ENV_USER,
    MONGO_SCHEMES,
    SECRET_OPTIONS,
    Credentials,
    StoreAddress,
    parse_address,
    read_credentials_file,
    redact,
    resolve_credentials,
)

__all__ = [
    "DEFAULT_DATABASE",
    "ENV_CREDENTIALS",
    "ENV_PASSWORD",
    "ENV_USER",
    "MONGO_SCHEMES",
    "SECRET_OPTIONS",
    "Credentials",
    "StoreAddress",
    "parse_address",
    "read_credentials_file",
    "redact",
    "resolve_credentials",
]
