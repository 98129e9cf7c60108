#!/usr/bin/env bash
# Build a folder of Django Channels code (consumers.py, routing.py, other
# modules) into a wasmsock plugin on this SDK:
#   build.sh SRC NAME OUT.wasm
# writes OUT.wasm and, when there are routes to declare (routing.py) or
# SRC/plugin.toml has settings, OUT.toml beside it: copy both into the
# server's plugins folder. The WIT is SRC/wit.
# Needs python3 (3.9 or later; PYTHON chooses another) to read routing.py,
# and componentize-py 0.25.1 on PATH (or its path in COMPONENTIZE_PY):
#   pip install componentize-py==0.25.1
set -euo pipefail
(($# == 3)) || { echo "usage: build.sh SRC NAME OUT.wasm" >&2; exit 2; }
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$1" && pwd)
name=$2
out=$3
cpy=${COMPONENTIZE_PY:-componentize-py}
py=${PYTHON:-python3}
command -v "$cpy" >/dev/null || {
  echo "build.sh: componentize-py not found; install it with: pip install componentize-py==0.25.1" >&2
  echo "          (in a venv: put its bin/ on PATH, or set COMPONENTIZE_PY=/path/to/componentize-py)" >&2
  exit 1
}
command -v "$py" >/dev/null || {
  echo "build.sh: $py not found: the build reads routing.py with Python 3.9 or later (PYTHON chooses one)" >&2
  exit 1
}
[[ -d $src/wit ]] || { echo "build.sh: $src/wit is missing: the WIT the plugin is built against" >&2; exit 1; }
# Build from copies, so that no __pycache__ lands in SRC or the SDK.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" "$sdk/wasmsock_build.py" --src "$src" --name "$name" --work "$work" --manifest "${out%.wasm}.toml"
"$cpy" -d "$src/wit" -w channel-consumer componentize -p "$work/app" -p "$work/sdk" wasmsock_app -o "$out"
echo "build.sh: built $out"
