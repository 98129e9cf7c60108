#!/usr/bin/env bash
# Build the Python echo plugin: build.sh OUT.wasm
# Needs componentize-py (pip install componentize-py==0.25.1) on PATH.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT.wasm}
# Build from a copy so that no __pycache__ lands in the source folder.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/app.py" "$work/"
componentize-py -d "$here/../../wit" -w consumer componentize -p "$work" app -o "$out"
