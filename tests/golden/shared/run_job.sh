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

# --- Python: shared environment; sets PY (and env_path for extra site folders) ---
env_path=
PY=<PYTHON>
if [ ! -x "$PY" ]; then echo "run_job.sh: shared environment $PY is not on this node" >&2; exit 3; fi
export PYTHONPATH=$scratch/code${env_path:+:$env_path}
took setup_env "$start"

printf '%s' "$configs" | base64 -d | gzip -dc > configs.jsonl
rc=0
if [ $mode = preflight ]; then
  step=$(ms)
  "$PY" - data preflight.json 'tensorflow keras spektral numpy pandas scipy Bio yaml dmsweep.train' <<'CHECK' || rc=$?
import importlib, json, sys, time
data_dir, report_file, imports = sys.argv[1], sys.argv[2], sys.argv[3].split()
started = time.perf_counter()
for name in imports:
    importlib.import_module(name)
imported = time.perf_counter()
from dmsweep.config import TrainConfig
from dmsweep.data import encoding_table, load_dataset, make_split
configs = [json.loads(line) for line in open("configs.jsonl")]
for flat in configs:
    flat.pop("job_id", None)
    data = TrainConfig.from_flat(flat).data
    make_split(load_dataset(data.dataset, data_dir=data_dir), data)
    encoding_table(data.encoding, data_dir=data_dir)
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
    "$PY" -m dmsweep.cli train --config preflight.jsonl -o "$out" --data-dir data --threads "$cpus" || rc=$?
  fi
else
  "$PY" -m dmsweep.cli train --config configs.jsonl -o "$out" --data-dir data --threads "$cpus" || rc=$?
fi
rm -rf "$out"/.tmp-*   # a training killed half-way leaves its temporary folder: not a result
took total "$start"
exit $rc
