#!/usr/bin/env bash
# Print the path of a Python X.Y interpreter: python3.X.Y on PATH, else pyenv's installed
# versions (pyenv's shims refuse a version that is not selected, so they are skipped).
set -euo pipefail
want=${1:?usage: python-for.sh X.Y}
for candidate in $(type -ap "python$want") ~/.pyenv/versions/"$want".*/bin/python"$want"; do
  case $candidate in */shims/*) continue ;; esac
  if [ -x "$candidate" ] && "$candidate" -c 'import sys' 2>/dev/null; then
    echo "$candidate"
    exit 0
  fi
done
echo "python-for.sh: no Python $want found (PATH, ~/.pyenv/versions)" >&2
exit 1
