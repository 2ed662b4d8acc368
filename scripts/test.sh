#!/usr/bin/env bash
# The whole test suite: lint, unit tests, real training on avGFP, real jobs through a real
# one-machine HTCondor pool (installed and started here, stopped on exit). Needs root for the pool.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${VENV:-.venv}/bin:$PATH"
if [ -z "${DMSWEEP_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export DMSWEEP_DATA_DIR="$(cd ../shared/data && pwd)"
fi

ruff check src tests bench
ruff format --check src tests bench

pool=scripts/personal-condor.sh
"$pool" install   # idempotent: quick when the pool is already installed
"$pool" start
trap '"$pool" stop' EXIT
pytest -ra "$@"
