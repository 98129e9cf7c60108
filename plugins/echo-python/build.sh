#!/usr/bin/env bash
# Build echo-python.wasm next to this script (or at the path given):
#   ./build.sh [OUT.wasm]
# Needs componentize-py 0.25.1 on PATH, or its path in COMPONENTIZE_PY:
#   pip install componentize-py==0.25.1
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/echo-python.wasm}
cpy=${COMPONENTIZE_PY:-componentize-py}
command -v "$cpy" >/dev/null || {
  echo "build.sh: componentize-py not found; install it with: pip install componentize-py==0.25.1" >&2
  echo "          (in a venv: put its bin/ on PATH, or set COMPONENTIZE_PY=/path/to/componentize-py)" >&2
  exit 1
}
# Build from a copy so that no __pycache__ lands in the source folder.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/app.py" "$work/"
"$cpy" -d "$here/wit" -w consumer componentize -p "$work" app -o "$out"
echo "build.sh: built $out"
