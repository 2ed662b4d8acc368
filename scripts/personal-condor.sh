#!/usr/bin/env bash
# personal-condor.sh install|start|stop|status|env -- a real one-machine HTCondor pool for trying
# sweeps, for the tests and for CI (Debian 12, as root).
#
#   install  unpack Debian 13's condor (23.x daemons) and the newer glibc it needs into $PREFIX
#            (default /opt/htcondor); the system itself is not touched. Idempotent: does nothing
#            when $PREFIX already holds a working install (FORCE=1 reinstalls).
#   start    install if needed, write the pool's config under $STATE, start the daemons and wait
#            until a slot can run jobs. Does nothing when the pool already answers.
#   stop     stop the daemons.
#   status   exit 0 and print slots and queue totals when the pool answers, exit 3 when it does not.
#   env      print the `export` lines that point condor_* tools and the Python bindings at the pool:
#            eval "$(scripts/personal-condor.sh env)"
#
# The daemons run as $POOL_USER inside a user namespace (HTCondor never runs jobs as root), so
# jobs run as uid 0 without capabilities: they can read and write what root owns, nothing more.
# Jobs do not inherit the submitter's environment; their PATH is the node's default plus
# $STATE/node-bin, where start links this machine's pyenv Pythons 3.11-3.13 (a node image that
# has them, as the wheelhouse strategy needs). One partitionable slot of all cores: with two
# cores two one-CPU jobs run at a time.
set -euo pipefail
PREFIX=${PREFIX:-/opt/htcondor} STATE=${STATE:-/var/lib/condor-ci} POOL_USER=${POOL_USER:-htcuser}
export CONDOR_CONFIG=$STATE/condor_config PATH=$PREFIX/usr/bin:$PREFIX/usr/sbin:$PATH
MARKER=$PREFIX/.personal-condor-installed

die() { echo "personal-condor: $*" >&2; exit 1; }

installed() { [ -f "$MARKER" ] && "$PREFIX/usr/bin/condor_version" >/dev/null 2>&1; }

answers() { [ -f "$CONDOR_CONFIG" ] && timeout 10 condor_q -totals >/dev/null 2>&1; }

do_install() {
  [ "$(id -u)" = 0 ] || die "install needs root (it unpacks into $PREFIX and uses apt-get)"
  if installed && [ -z "${FORCE:-}" ]; then
    echo "already installed in $PREFIX: $(condor_version | head -n1)"; return
  fi
  command -v patchelf >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patchelf >/dev/null
  }
  local W; W=$(mktemp -d)
  mkdir -p "$W"/lists/partial "$W"/cache/archives/partial "$W"/debs; : > "$W"/status
  # the machine's own Debian mirror, with the next release's suite (its condor package needs a newer
  # glibc, which is unpacked into the private prefix too; the system itself is not touched)
  local MIRROR
  MIRROR=$(sed -n 's/^URIs: *\([^ ]*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  [ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" > "$W"/sources.list
  # private apt state: the system's package lists and status are untouched
  local A=(-o Dir::Etc::SourceList="$W"/sources.list -o Dir::Etc::SourceParts=/nonexistent
           -o Dir::State::Lists="$W"/lists -o Dir::Cache="$W"/cache -o Dir::State::status="$W"/status
           -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${A[@]}" update -qq
  local PKGS
  PKGS=$(apt-cache "${A[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
         --no-replaces --no-enhances --no-pre-depends libc6 libstdc++6 libgcc-s1 libssl3t64 libpcre2-8-0 \
         libcurl4t64 libuuid1 libgomp1 libsqlite3-0 libexpat1 | grep -v '^ ' | sort -u)
  # shellcheck disable=SC2086  # PKGS is a list of package names
  (cd "$W"/debs && apt-get "${A[@]}" download -qq condor $PKGS)
  rm -rf "$PREFIX"; mkdir -p "$PREFIX"
  for d in "$W"/debs/*.deb; do dpkg-deb -x "$d" "$PREFIX"; done
  rm -rf "$W"
  local LD; LD=$(readlink -f "$PREFIX"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)  # trixie's loader
  find "$PREFIX"/usr/{bin,sbin,libexec,lib} -path "$PREFIX"/usr/lib/x86_64-linux-gnu -prune -o -type f -print |
  while read -r f; do
    [ "$(head -c4 "$f" | tr -d '\0')" = $'\x7fELF' ] || continue
    if patchelf --print-interpreter "$f" >/dev/null 2>&1; then patchelf --set-interpreter "$LD" "$f"; fi
    patchelf --force-rpath --set-rpath "$PREFIX"/usr/lib:"$PREFIX"/usr/lib/x86_64-linux-gnu "$f" 2>/dev/null || true
  done
  condor_version >/dev/null || die "the unpacked condor does not run"
  touch "$MARKER"
  echo "installed in $PREFIX: $(condor_version | head -n1)"
}

write_config() {
  cat > "$CONDOR_CONFIG" <<CFG
RELEASE_DIR = $PREFIX/usr
LIB = \$(RELEASE_DIR)/lib/condor
LIBEXEC = \$(RELEASE_DIR)/libexec/condor
LOCAL_DIR = $STATE
LOG = \$(LOCAL_DIR)/log
SPOOL = \$(LOCAL_DIR)/spool
EXECUTE = \$(LOCAL_DIR)/execute
LOCK = \$(LOCAL_DIR)/lock
RUN = \$(LOCAL_DIR)/run
use ROLE: Personal
use FEATURE: PartitionableSlot
CONDOR_HOST = 127.0.0.1
NETWORK_INTERFACE = 127.0.0.1
USE_SHARED_PORT = False
UID_DOMAIN = localhost
MAIL = /bin/true
# root clients must authenticate as root (not setuid to a "condor" account)
CONDOR_IDS = 0.0
SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_AUTHENTICATION_METHODS = FS
# PyPI wheels >= 24 check an FS-auth channel binding that 23.x daemons don't send
SEC_FS_ENFORCE_CHANNEL_BINDING = False
ALLOW_READ = *
ALLOW_WRITE = *
ALLOW_DAEMON = *
ALLOW_NEGOTIATOR = *
ALLOW_ADMINISTRATOR = *
ALLOW_ADVERTISE = *
# fast turnaround
UPDATE_INTERVAL = 2
SCHEDD_INTERVAL = 2
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_MIN_INTERVAL = 1
NEGOTIATOR_CYCLE_DELAY = 1
STARTER_UPDATE_INTERVAL = 2
SHADOW_QUEUE_UPDATE_INTERVAL = 2
RUNBENCHMARKS = False
START = True
MachineMaxVacateTime = 5
DAGMAN_USE_STRICT = 0
DAGMAN_USER_LOG_SCAN_INTERVAL = 1
# the execute node's default PATH, plus the Pythons this machine has outside it (pyenv): a node
# image with python3.11-3.13, which the wheelhouse strategy needs (one matching the build's)
STARTER_JOB_ENVIRONMENT = "PATH=$STATE/node-bin:/usr/local/bin:/usr/bin:/bin"
CFG
  mkdir -p "$STATE"/node-bin
  local py
  for py in /root/.pyenv/versions/3.1[1-3].*/bin/python3.1[1-3]; do
    if [ -x "$py" ]; then ln -sf "$py" "$STATE"/node-bin/"$(basename "$py")"; fi
  done
}

do_start() {
  [ "$(id -u)" = 0 ] || die "start needs root"
  if answers; then echo "pool ready (already running; CONDOR_CONFIG=$CONDOR_CONFIG)"; return; fi
  installed || do_install
  id "$POOL_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$POOL_USER"
  do_stop >/dev/null 2>&1 || true   # a half-dead master from an earlier start
  rm -rf "$STATE"; mkdir -p "$STATE"/{log,spool,execute,lock,run}
  write_config
  # root appears as $POOL_USER inside a user namespace -> a "personal" (non-root) condor that
  # still has root's file access; jobs run as real uid 0 but without capabilities
  unshare --user --map-user="$(id -u "$POOL_USER")" --map-group="$(id -g "$POOL_USER")" \
      "$PREFIX"/usr/sbin/condor_master -pidfile "$STATE"/master.pid
  timeout 60 bash -c 'until condor_status -af Name 2>/dev/null | grep -q slot && condor_q -totals >/dev/null 2>&1;
                      do sleep 0.5; done' || die "no slot became ready within 60 s (logs in $STATE/log)"
  echo "pool ready (CONDOR_CONFIG=$CONDOR_CONFIG)"
}

do_stop() {
  local pid; pid=$(cat "$STATE"/master.pid 2>/dev/null || true)
  [ -f "$CONDOR_CONFIG" ] && { condor_off -fast -master >/dev/null 2>&1 || { [ -n "$pid" ] && kill -QUIT "$pid"; } || true; }
  for _ in $(seq 60); do   # a zombie (not yet reaped) counts as gone
    [ -n "$pid" ] && grep -qv '^[^)]*) Z' /proc/"$pid"/stat 2>/dev/null || break; sleep 0.5
  done
  echo "pool stopped"
}

do_status() {
  if ! answers; then echo "pool not running (start it with: $0 start)"; exit 3; fi
  echo "pool running (CONDOR_CONFIG=$CONDOR_CONFIG)"
  condor_status -af Name Cpus Memory State Activity
  condor_q -totals | tail -n 3
}

case ${1:-} in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env) echo "export CONDOR_CONFIG=$CONDOR_CONFIG"; echo "export PATH=$PREFIX/usr/bin:$PREFIX/usr/sbin:\$PATH" ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
