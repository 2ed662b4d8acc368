#!/usr/bin/env bash
# mongo-server.sh start|stop|status|uri -- a real MongoDB wire-protocol server on loopback for
# trying database sweeps, for the tests and for CI (secantusd-py from the `dev` extra,
# secantusdb, GPL-2.0: run as a separate process, never imported by dmsweep).
#
#   start   start the server in the background (pid file, log and storage under $STATE), wait
#           until it answers a ping, print its URI. Does nothing but print the URI when it
#           already runs.
#   stop    stop it (SIGTERM, SIGKILL after 10 s). Idempotent: exit 0 when it does not run.
#   status  exit 0 and print the URI when it runs and answers; exit 1 when the pid file names
#           a dead process; exit 3 when it does not run (the LSB service convention).
#   uri     print the URI (mongodb://127.0.0.1:PORT/dmsweep) of the server in $STATE.
#
# $DMSWEEP_MONGO_DIR is the state folder (default /tmp/dmsweep-mongo); $DMSWEEP_MONGO_PORT the
# port (default: the one in $STATE/port from the last start, else 27117; 0 picks a free port at
# start). The documents stay in $STATE/storage across restarts. The server is looked up in
# $VENV/bin (default .venv), else on PATH, or named by $SECANTUSD.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${DMSWEEP_MONGO_DIR:-/tmp/dmsweep-mongo}
HOST=127.0.0.1 DATABASE=dmsweep START_TIMEOUT=60

die() { echo "mongo-server: $*" >&2; exit 1; }

server_program() {
  if [ -n "${SECANTUSD:-}" ]; then echo "$SECANTUSD"; return; fi
  local venv=$REPO/${VENV:-.venv}/bin/secantusd-py
  if [ -x "$venv" ]; then echo "$venv"; return; fi
  command -v secantusd-py || die "secantusd-py not found in $REPO/${VENV:-.venv}/bin nor on PATH (pip install -e '.[dev]')"
}

# the Python beside the server (its environment has pymongo, for the ping)
server_python() {
  local bin; bin=$(dirname "$(server_program)")
  if [ -x "$bin/python" ]; then echo "$bin/python"; else command -v python3; fi
}

port() {
  if [ -n "${DMSWEEP_MONGO_PORT:-}" ] && [ "$DMSWEEP_MONGO_PORT" != 0 ]; then echo "$DMSWEEP_MONGO_PORT"
  elif [ -s "$STATE/port" ]; then cat "$STATE/port"
  else echo 27117; fi
}

uri() { echo "mongodb://$HOST:$(port)/$DATABASE"; }

pid() { cat "$STATE/pid" 2>/dev/null || true; }

alive() {  # a zombie (not yet reaped) counts as gone, and so does a reused pid: only a
  # process serving this state folder's storage is ours to signal
  local p; p=$(pid)
  [ -n "$p" ] && [ -e /proc/"$p" ] && ! grep -q '^[^)]*) Z' /proc/"$p"/stat 2>/dev/null &&
    tr '\0' '\n' < /proc/"$p"/cmdline 2>/dev/null | grep -qxF -- "$STATE/storage"
}

# ping the server until it answers (exit 0), its process dies or $1 seconds pass (exit 1)
answers_within() {
  "$(server_python)" - "$(uri)" "$(pid)" "$1" <<'PY'
import os, sys, time
import pymongo, pymongo.errors
uri, pid, timeout = sys.argv[1], int(sys.argv[2] or 0), float(sys.argv[3])
deadline = time.monotonic() + timeout
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
    try:
        client.admin.command("ping")
        sys.exit(0)
    except pymongo.errors.PyMongoError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.2)
    finally:
        client.close()
PY
}

free_port() {
  "$(server_python)" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# exit 0 when nothing listens on $1 (else a ping could reach another server, not ours)
port_free() {
  "$(server_python)" -c 'import socket, sys; s = socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0)' "$1"
}

do_start() {
  if alive && answers_within 5; then uri; return; fi
  local program; program=$(server_program)
  do_stop >/dev/null   # a half-started server from an earlier start
  mkdir -p "$STATE/storage"
  if [ "${DMSWEEP_MONGO_PORT:-}" = 0 ]; then free_port > "$STATE/port"; else port > "$STATE/port.new"; mv "$STATE/port.new" "$STATE/port"; fi
  port_free "$(port)" || die "port $(port) is in use by another process (set DMSWEEP_MONGO_PORT, 0: a free one)"
  : > "$STATE/secantusd.toml"   # an empty config: no ./secantusd.toml or ~/.secantus one is picked up
  "$program" --config "$STATE/secantusd.toml" --host "$HOST" --port "$(port)" \
      --storage-path "$STATE/storage" >> "$STATE/server.log" 2>&1 < /dev/null &
  echo $! > "$STATE/pid"
  if ! answers_within "$START_TIMEOUT"; then
    tail -n 5 "$STATE/server.log" >&2 || true
    do_stop >/dev/null
    die "the server did not answer on $(uri) within $START_TIMEOUT s (log: $STATE/server.log)"
  fi
  uri
}

do_stop() {
  if ! alive; then rm -f "$STATE/pid"; echo "mongo server not running ($STATE)"; return; fi
  local p; p=$(pid)
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 50); do alive || break; sleep 0.2; done
  if alive; then kill -KILL "$p" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$STATE/pid"
  echo "mongo server stopped ($STATE)"
}

do_status() {
  if alive && answers_within 5; then echo "mongo server running: $(uri) (pid $(pid), $STATE)"; exit 0; fi
  if [ -n "$(pid)" ]; then
    echo "mongo server not answering: pid file $STATE/pid names process $(pid), which is dead or silent"
    exit 1
  fi
  echo "mongo server not running (start it with: $0 start)"
  exit 3
}

case ${1:-} in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  uri) uri ;;
  *) echo "usage: $0 start|stop|status|uri" >&2; exit 2 ;;
esac
