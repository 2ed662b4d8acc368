"""`python -m dmsweep.train CONFIGS.jsonl OUTPUT [dmsweep train options]`: what the job wrapper
runs, `dmsweep train` over a batch that survives a training killing its process (jobs.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from dmsweep.core.processes import die_with_parent
from dmsweep.train.jobs import run_batch_surviving_crashes

die_with_parent()  # under run-local: never outlive the job wrapper
if len(sys.argv) < 3:
    sys.exit("usage: python -m dmsweep.train CONFIGS.jsonl OUTPUT [dmsweep train options]")
sys.exit(run_batch_surviving_crashes(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))
