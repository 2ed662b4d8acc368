"""One exception tree, so that commands can turn any expected failure into one readable line."""

from __future__ import annotations


class DmsweepError(Exception):
    """Base of every error a user can act on; the CLI prints it as one line, no traceback."""


class ConfigError(DmsweepError):
    """A training config or sweep spec is malformed: names file, key and what was expected."""


class DataError(DmsweepError):
    """A dataset file is missing, corrupt or inconsistent (checksum, variant, column)."""


class VariantError(DataError):
    """A variant string cannot be applied to the wild type (bad position, residue or syntax)."""


class DatabaseError(DmsweepError):
    """A document database cannot be reached, refuses a login or an operation (no secrets in
    the message: URIs are redacted)."""


class TrainingError(DmsweepError):
    """Training could not produce a model (diverged, empty split, out of memory)."""


class OutputError(DmsweepError):
    """An output location cannot be written: a file in the way, read-only, or full."""


class JobFolderError(DmsweepError):
    """A job output folder is incomplete or unreadable."""


class SchedulerError(DmsweepError):
    """HTCondor refused or lost something (submit failed, schedd unreachable, job held)."""


def one_line(error: BaseException) -> str:
    """An exception's message on one line (what error.json and the commands show)."""
    return " ".join(str(error).split()) or type(error).__name__
