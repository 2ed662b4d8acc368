"""The git commit of the running code: provenance of every job folder and every run folder.

Shared core: the trainer writes it into provenance.json, the run builder into the run
manifest (and passes it to jobs, which run from a copy without .git).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dmsweep

ENV_GIT_COMMIT = "DMSWEEP_GIT_COMMIT"
"""Set by the run builder: the commit of the code copied into a run folder (no .git there)."""


def git_commit() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the package's source checkout, else ($DMSWEEP_GIT_COMMIT, None).

    `dirty` counts changes to tracked files only; None when unknown.
    """
    root = Path(dmsweep.__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            commit = _git(root, "rev-parse", "HEAD")
            status = _git(root, "status", "--porcelain", "--untracked-files=no")
            return commit, bool(status)
        except (OSError, subprocess.SubprocessError):
            pass
    return os.environ.get(ENV_GIT_COMMIT) or None, None


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()
