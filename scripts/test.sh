#!/usr/bin/env bash
# The whole test suite: lint, unit tests, real training on avGFP, real jobs through a real
# one-machine HTCondor pool and a real MongoDB wire-protocol server (both started here and
# stopped on exit; the server's URI goes to the tests in $DMSWEEP_TEST_MONGO_URI). Needs root
# for the pool.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${VENV:-.venv}/bin:$PATH"
if [ -z "${DMSWEEP_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export DMSWEEP_DATA_DIR="$(cd ../shared/data && pwd)"
fi

ruff check src tests bench
ruff format --check src tests bench

pool=scripts/personal-condor.sh mongo=scripts/mongo-server.sh
# the server gets a state folder of its own (made here, removed on exit) and a free port, so a
# developer's server, or another checkout's test run, is neither reused nor stopped
made=
if [ -z "${DMSWEEP_MONGO_DIR:-}" ]; then made=$(mktemp -d /tmp/dmsweep-test-mongo.XXXXXX); fi
export DMSWEEP_MONGO_DIR=${DMSWEEP_MONGO_DIR:-$made} DMSWEEP_MONGO_PORT=${DMSWEEP_MONGO_PORT:-0}
trap '"$mongo" stop || true; [ -z "$made" ] || rm -rf "$made"; "$pool" stop' EXIT
"$pool" install   # idempotent: quick when the pool is already installed
"$pool" start
DMSWEEP_TEST_MONGO_URI=$("$mongo" start)
export DMSWEEP_TEST_MONGO_URI
pytest -ra "$@"
