#!/usr/bin/env bash
# The main job, end to end: build the demo sweep into a run folder, run its jobs here (no pool
# needed; run-local ends with the run's status), aggregate the results into summary.csv,
# failures.csv, plots/ and report.html.
# Data: $DMSWEEP_DATA_DIR, else ../shared/data beside the checkout, else downloaded into a cache.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${VENV:-.venv}/bin:$PATH"
if [ -z "${DMSWEEP_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export DMSWEEP_DATA_DIR="$(cd ../shared/data && pwd)"
fi
spec=${1:-sweeps/demo.yaml}

run_builder "$spec" --dry-run
run=$(run_builder "$spec" -o runs | tail -n 1)
run_builder run-local "$run" -j 2
aggregate "$run"
echo
echo "Run folder:  $run"
echo "Report:      $run/summary/report.html"
