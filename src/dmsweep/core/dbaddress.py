"""Database addresses: one URI form for both backends, and credentials that never travel in it.

- `sqlite:///abs/path/store.db`, `sqlite://relative.db` or a plain path: the embedded store,
  one local file.
- `mongodb://[user@]host:port/database?tls=true&tlsCAFile=ca.pem&retryWrites=false` (or
  `mongodb+srv://`): a MongoDB-protocol server (Amazon DocumentDB wants exactly those
  options). The password is never in the URI (refused), on the command line, or in a run
  folder: it comes from a credentials file (`--credentials FILE` or $DMSWEEP_DB_CREDENTIALS,
  a YAML mapping `username: ...` / `password: ...` readable by its owner only), else from
  $DMSWEEP_DB_USER / $DMSWEEP_DB_PASSWORD. `StoreAddress.display` is what messages show.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from dmsweep._yaml import strict_yaml
from dmsweep.errors import DatabaseError

ENV_CREDENTIALS = "DMSWEEP_DB_CREDENTIALS"
ENV_USER = "DMSWEEP_DB_USER"
ENV_PASSWORD = "DMSWEEP_DB_PASSWORD"
DEFAULT_DATABASE = "dmsweep"
MONGO_SCHEMES = ("mongodb", "mongodb+srv")
SECRET_OPTIONS = ("password", "tlscertificatekeyfilepassword", "authmechanismproperties")
"""URI options whose values are secrets: refused like a password in the URI."""


@dataclass(frozen=True)
class StoreAddress:
    """Where a document store is: `kind` sqlite (a `path`) or mongodb (a server `uri` without
    a password, and the `database` its path names)."""

    kind: str
    display: str
    """The URI without any secret: what messages, logs and provenance show."""
    path: Path | None = None
    uri: str | None = None
    database: str = DEFAULT_DATABASE
    username: str | None = None


@dataclass(frozen=True)
class Credentials:
    """A login for a MongoDB-protocol server; repr never shows the password."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


def parse_address(text: str) -> StoreAddress:
    """The address a `--db` value names; DatabaseError (with the URI redacted) if malformed."""
    text = text.strip()
    if not text:
        raise DatabaseError("--db: expected a database URI (sqlite:///path.db, mongodb://...)")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return _sqlite(text)
    if scheme == "sqlite":
        return _sqlite(rest)
    if scheme in MONGO_SCHEMES:
        return _mongo(text)
    raise DatabaseError(
        f"--db: {redact(text)}: expected sqlite:///path.db, a file path, or mongodb://host/db"
    )


def _sqlite(path_text: str) -> StoreAddress:
    if not path_text:
        raise DatabaseError("--db sqlite://: expected a file path, e.g. sqlite:///data/store.db")
    if path_text.startswith("//"):  # sqlite:////abs/file.db (SQLAlchemy's form) as sqlite:///
        path_text = "/" + path_text.lstrip("/")
    path = Path(path_text).expanduser()
    return StoreAddress(kind="sqlite", display=f"sqlite://{path}", path=path)


def _mongo(text: str) -> StoreAddress:
    parts = urlsplit(text)
    if parts.password is not None:
        raise DatabaseError(
            f"--db {redact(text)}: a password in the URI is refused (it would show in the "
            f"process list and in logs): use a credentials file or ${ENV_PASSWORD}"
        )
    for key, _ in parse_qsl(parts.query):
        if key.lower() in SECRET_OPTIONS:
            raise DatabaseError(f"--db {redact(text)}: option {key} is a secret: not in the URI")
    if not parts.hostname:
        raise DatabaseError(f"--db {redact(text)}: no host (expected mongodb://host:port/db)")
    database = unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE
    hosts = parts.netloc.rpartition("@")[2]
    user = unquote(parts.username) if parts.username else None
    shown = f"{parts.scheme}://{user + '@' if user else ''}{hosts}/{database}"
    return StoreAddress(kind="mongodb", display=shown, uri=text, database=database, username=user)


def redact(text: str) -> str:
    """A URI safe to print: any password and the whole query replaced by ***."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if at:
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{hosts}" if ":" in userinfo else f"{user}@{hosts}"
    path, question, _ = tail.partition("?")
    return f"{scheme}://{netloc}{slash}{path}{'?***' if question else ''}"


def resolve_credentials(
    address: StoreAddress, *, credentials_file: Path | None = None
) -> Credentials | None:
    """The login for `address`: the credentials file given, else $DMSWEEP_DB_CREDENTIALS,
    else $DMSWEEP_DB_USER (or the URI's user) with $DMSWEEP_DB_PASSWORD, else None."""
    if address.kind != "mongodb":
        return None
    named = credentials_file or (
        Path(os.environ[ENV_CREDENTIALS]) if os.environ.get(ENV_CREDENTIALS) else None
    )
    if named is not None:
        return read_credentials_file(named.expanduser(), default_user=address.username)
    password = os.environ.get(ENV_PASSWORD)
    if not password:
        return None
    user = os.environ.get(ENV_USER) or address.username
    if not user:
        raise DatabaseError(
            f"{address.display}: ${ENV_PASSWORD} is set but no user: put it in the URI "
            f"(mongodb://USER@host/db) or in ${ENV_USER}"
        )
    return Credentials(username=user, password=password)


def shared_with_others(path: Path, mode: int) -> str | None:
    """Why a credentials file with this mode is refused (group or others may use it), else
    None: the one rule `dmsweep db` and `run_builder submit --db-credentials` apply."""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"readable by others (mode {stat.filemode(mode)}): chmod 600 {path}"
    return None


def read_credentials_file(path: Path, *, default_user: str | None = None) -> Credentials:
    """`username:` and `password:` from a YAML file that only its owner can read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DatabaseError(f"{path}: cannot read the credentials file: {err.strerror}") from None
    problem = shared_with_others(path, mode)
    if problem:
        raise DatabaseError(f"{path}: the credentials file is {problem}")
    try:
        raw = strict_yaml(text)
    except ValueError:
        raw = None  # never echo the file's text: it holds a password
    if not isinstance(raw, Mapping) or not isinstance(raw.get("password"), str):
        raise DatabaseError(f"{path}: expected a YAML mapping with username and password")
    user = raw.get("username", default_user)
    if not isinstance(user, str) or not user:
        raise DatabaseError(f"{path}: expected a username (in the file or the URI)")
    return Credentials(username=user, password=raw["password"])
