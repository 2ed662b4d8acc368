"""A database credentials file for pool jobs, added to a submission at submit time only.

`run_builder submit RUN --db-credentials FILE` transfers FILE with every job (appended to
the submit description in memory: sweep.sub and the run folder never name it) and points
the job's `$DMSWEEP_DB_CREDENTIALS` at its copy in the job's scratch folder, where
`dmsweep.core.dbaddress.resolve_credentials` finds it. The file must be readable by its owner
only (mode 0600 or 0400), as `dmsweep db` requires too.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dmsweep.core.dbaddress import ENV_CREDENTIALS, shared_with_others
from dmsweep.errors import ConfigError

SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")
"""File names a submit description and the job's environment carry unquoted."""


@dataclass(frozen=True)
class CredentialsFile:
    """A checked credentials file: its absolute path and the name the job sees."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def environment(self) -> str:
        """The job's variable (relative: the job starts in its scratch folder)."""
        return f"{ENV_CREDENTIALS}={self.name}"


def check_credentials_file(path: Path) -> CredentialsFile:
    """The file, if it is a regular file only its owner can read; else one line saying why
    (never its content)."""
    where = f"--db-credentials {path}"
    try:
        info = path.stat()
    except OSError as err:
        raise ConfigError(f"{where}: cannot read the credentials file: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where}: expected a file")
    problem = shared_with_others(path, info.st_mode)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    if not SAFE_NAME.fullmatch(path.name):
        raise ConfigError(f"{where}: name it with letters, digits, '.', '_' and '-' only")
    return CredentialsFile(path.resolve())
