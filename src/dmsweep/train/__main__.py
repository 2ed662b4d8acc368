"""`python -m dmsweep.train CONFIGS.jsonl OUTPUT [dmsweep train options]`: what the job wrapper
runs, `dmsweep train` over a batch that survives a training killing its process (jobs.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from dmsweep.train.jobs import run_batch_surviving_crashes

if len(sys.argv) < 3:
    sys.exit("usage: python -m dmsweep.train CONFIGS.jsonl OUTPUT [dmsweep train options]")
sys.exit(run_batch_surviving_crashes(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))
