#!/bin/bash
# run_job.sh: one HTCondor job of run golden (also what `run_builder run-local` runs).
# Sets up Python (shared environment), decodes this job's configs, trains them in
# sequence with `dmsweep train` and leaves each training's folder in ./results/<job_id>/,
# which HTCondor copies back into the run folder.
#
# usage: run_job.sh [--preflight] BATCH_ID CPUS CONFIGS
#   CONFIGS       gzip + base64 of the batch's configs, one flat JSON config per line
#   --preflight   set up, import the job's packages, load the data, then train each config for
#                 one epoch into ./preflight/ (not results/): proves the environment works
# It runs in the job's scratch folder, which holds 'code, data'.
set -euo pipefail
export PATH=${PATH:-/usr/local/bin:/usr/bin:/bin}
mode=train
if [ "${1:-}" = --preflight ]; then mode=preflight; shift; fi
if [ $# -ne 3 ]; then echo "usage: $0 [--preflight] BATCH_ID CPUS CONFIGS" >&2; exit 2; fi
batch_id=$1 cpus=$2 configs=$3
# the arguments come from queue.txt: refuse anything the builder would not have written
if ! [[ $batch_id =~ ^[A-Za-z0-9_.-]+$ && $cpus =~ ^[1-9][0-9]*$ && $configs =~ ^[A-Za-z0-9+/=]+$ ]]; then
  echo "run_job.sh: malformed arguments (batch id, cpus or configs)" >&2; exit 2
fi

scratch=$PWD
out=$scratch/results
if [ $mode = preflight ]; then out=$scratch/preflight; fi
mkdir -p "$out"   # always: HTCondor holds a job whose output folder is missing
ms() { echo $(( $(date +%s%N) / 1000000 )); }
took() { echo "dmsweep-timing $1 $(( $(ms) - $2 )) ms" >&2; }
start=$(ms)

unset PYTHONHOME PYTHONPATH VIRTUAL_ENV
export HOME=${HOME:-$scratch}
export DMSWEEP_RUN=golden DMSWEEP_BATCH_ID=$batch_id DMSWEEP_GIT_COMMIT=<COMMIT>
export OMP_NUM_THREADS=$cpus TF_NUM_INTRAOP_THREADS=$cpus TF_NUM_INTEROP_THREADS=$cpus
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1 PYTHONNOUSERSITE=1

# unpack_env FILE SHA256 TOP [zstd|gzip]: unpack an environment file (tarball or wheelhouse) into
# the scratch folder, only after checking it against the checksum recorded when the run folder
# was built and refusing any member outside TOP/: absolute names, '..', links that leave TOP/,
# members under a link of the archive, hard links to names outside TOP/, devices and fifos.
unpack_env() {
  local file=$1 sum=$2 top=$3 unpack=(cat)
  case ${4:-} in zstd) unpack=(zstd -dcq) ;; gzip) unpack=(gzip -dc) ;; esac
  if ! printf '%s  %s\n' "$sum" "$file" | sha256sum --check --status -; then
    echo "run_job.sh: $file does not match the sha256 recorded when the run was built ($sum)${staged:+; it was fetched from $staged: upload the env/ file of this run there again}" >&2
    exit 3
  fi
  local bad
  bad=$("${unpack[@]}" < "$file" | tar -tvf - --quoting-style=escape | awk -v top="$top" '
    function inside(path, base,   parts, n, i, depth, down) {   # lexically within top/?
      if (path ~ /^\//) return 0
      n = split(base, parts, "/"); depth = 0
      for (i = 1; i <= n; i++) if (parts[i] != "" && parts[i] != ".") depth++
      n = split(path, parts, "/"); down = 0
      for (i = 1; i <= n; i++) {
        if (parts[i] == "" || parts[i] == ".") continue
        if (parts[i] == "..") { if (down || --depth < 1) return 0; continue }   # only leading ..
        down = 1
        if (++depth == 1 && parts[i] != top) return 0
      }
      return depth >= 1
    }
    function refuse(why) { if (problem == "") problem = why }
    {
      kind = substr($0, 1, 1)
      if (!match($0, /^[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ /)) { refuse("an unreadable member: " $0); next }
      name = substr($0, RLENGTH + 1); target = ""
      if (kind == "l" || kind == "h") {
        if (split(name, pair, kind == "l" ? " -> " : " link to ") != 2) { refuse("an ambiguous link: " name); next }
        name = pair[1]; target = pair[2]
      }
      sub(/\/$/, "", name)
      base = name; sub(/\/?[^\/]*$/, "", base)
      if (kind !~ /[-dlh]/) refuse("a device, fifo or socket: " name)
      else if (!inside(name, "")) refuse("a member outside " top "/: " name)
      else if (kind == "l" && !inside(target, base)) refuse("a link leaving " top "/: " name " -> " target)
      else if (kind == "h" && !inside(target, "")) refuse("a hard link to " target)
      if (kind == "l") links[name] = 1
      names[++count] = name
    }
    END {
      for (i = 1; i <= count && problem == ""; i++) {
        path = names[i]
        while (problem == "" && sub(/\/[^\/]*$/, "", path))
          if (path in links) refuse("a member under the link " path ": " names[i])
      }
      print problem
    }') || bad="an unreadable archive"
  if [ -n "$bad" ]; then echo "run_job.sh: $file: refusing to unpack $bad" >&2; exit 3; fi
  "${unpack[@]}" < "$file" | tar -xf - --no-same-owner
  case $file in /*) ;; *) rm -f "$file" ;; esac   # a staged file on a shared path stays
}

# --- Python: shared environment; sets PY (and env_path for extra site folders) ---
env_path= staged=''
PY=<PYTHON>
if [ ! -x "$PY" ]; then echo "run_job.sh: shared environment $PY is not on this node" >&2; exit 3; fi
export PYTHONPATH=$scratch/code${env_path:+:$env_path}
took setup_env "$start"

printf '%s' "$configs" | base64 -d | gzip -dc > configs.jsonl
rc=0
if [ $mode = preflight ]; then
  step=$(ms)
  "$PY" - data preflight.json 'dmsweep._tf tensorflow tf_keras spektral numpy pandas scipy Bio yaml transformers dmsweep.train' <<'CHECK' || rc=$?
import importlib, json, sys, time
data_dir, report_file, imports = sys.argv[1], sys.argv[2], sys.argv[3].split()
started = time.perf_counter()
for name in imports:
    importlib.import_module(name)
imported = time.perf_counter()
from dmsweep.config import TrainConfig
from dmsweep.train.trainer import check_data
configs = [json.loads(line) for line in open("configs.jsonl")]
for flat in configs:
    flat.pop("job_id", None)
check_data([TrainConfig.from_flat(flat) for flat in configs], data_dir)
loaded = time.perf_counter()
with open("preflight.jsonl", "w") as stream:
    for flat in configs:
        stream.write(json.dumps({**flat, "max_epochs": 1}) + "\n")
report = {"imports_s": round(imported - started, 3), "load_data_s": round(loaded - imported, 3)}
print("dmsweep-timing imports", round(1000 * report["imports_s"]), "ms", flush=True)
print("dmsweep-timing load_data", round(1000 * report["load_data_s"]), "ms", flush=True)
json.dump(report, open(report_file, "w"))
CHECK
  took preflight_checks "$step"
  if [ $rc = 0 ]; then
    mv preflight.json "$out/"
    "$PY" -m dmsweep.train preflight.jsonl "$out" --data-dir data --threads "$cpus" || rc=$?
  fi
else
  # dmsweep train in one process; a training that kills it gets error.json, the rest go on
  "$PY" -m dmsweep.train configs.jsonl "$out" --data-dir data --threads "$cpus" || rc=$?
fi
rm -rf "$out"/.tmp-*   # a training killed half-way leaves its temporary folder: not a result
took total "$start"
exit $rc
