"""Training jobs: `run_trainings(configs, options=RunOptions(...))` -> one outcome per config.

Each training writes one atomic job folder (docs/job-contract.md). Importing this package
does not import TensorFlow; `run_trainings` and `predict` load it on first use, so the run
builder can import `RunOptions` and `JobOutcome` cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dmsweep.train.jobs import JobOutcome, RunOptions

if TYPE_CHECKING:
    from dmsweep.config import TrainConfig

__all__ = ["JobOutcome", "RunOptions", "run_trainings"]


def run_trainings(
    configs: Sequence[TrainConfig],
    *,
    options: RunOptions,
    command: Sequence[str] | None = None,
) -> list[JobOutcome]:
    """Train each config in turn into `<options.output_root>/<job_id>/` (see trainer.py).

    A failed training leaves error.json in its folder and the next config runs; a config
    whose folder already holds valid results is skipped unless `options.force`.
    `command` is recorded in provenance.json (default: sys.argv).
    """
    from dmsweep.train.trainer import run_trainings as run

    return run(configs, options=options, command=command)
