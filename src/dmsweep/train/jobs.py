"""What a caller passes to a sequence of trainings and gets back (no TensorFlow here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunOptions:
    """How to run a sequence of trainings in one process.

    `output_root`: job folders are written to `<output_root>/<job_id>/`.
    `data_dir`: a local copy of the data (else $DMSWEEP_DATA_DIR, else the download cache).
    `threads`: TensorFlow intra/inter-op threads; None follows what the job was granted
    (HTCondor's RequestCpus / OMP_NUM_THREADS) or TensorFlow's own default outside a batch job.
    `force`: retrain a config whose folder already holds valid results.
    `verbose`: print a line per epoch.
    """

    output_root: Path = Path("results")
    data_dir: Path | None = None
    threads: int | None = None
    force: bool = False
    verbose: bool = True


@dataclass(frozen=True)
class JobOutcome:
    """One training's result: its folder, whether it succeeded, and the error line if not.

    `skipped` is True when the folder already held valid results and nothing was trained;
    `data_error` when it failed on its data (a missing or corrupt file: exit status 2).
    """

    job_id: str
    path: Path
    ok: bool
    error: str | None = None
    skipped: bool = False
    data_error: bool = False
