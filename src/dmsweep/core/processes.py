"""Processes that must not outlive the process that started them.

`run_builder run-local` starts each batch as `bash run_job.sh`, which starts the batch runner,
which starts `dmsweep train`. If run-local is killed (even with SIGKILL), none of them may run
on as an orphan that `status` would report as "never submitted" while it still writes results.
Each link of that chain asks the kernel for a signal when its parent dies (Linux
PR_SET_PDEATHSIG): bash through `setpriv --pdeathsig`, our own processes through
`die_with_parent()`, when run-local asked for it in their environment. On a pool node
HTCondor owns the job's processes, and nothing here applies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import sys

ENV_DIE_WITH_PARENT = "DMSWEEP_DIE_WITH_PARENT"
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGTERM this process when its parent dies, if `$DMSWEEP_DIE_WITH_PARENT` is 1."""
    if os.environ.get(ENV_DIE_WITH_PARENT) != "1" or not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            return
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)


def dying_with_parent(command: list[str]) -> tuple[list[str], dict[str, str]]:
    """`command` prefixed so that it dies with this process (when setpriv exists), and the
    environment variable that makes our own processes below it do the same."""
    setpriv = shutil.which("setpriv")
    prefix = (
        [setpriv, "--pdeathsig", "TERM"] if setpriv and sys.platform.startswith("linux") else []
    )
    return [*prefix, *command], {ENV_DIE_WITH_PARENT: "1"}
