#!/usr/bin/env bash
# Build the AssemblyScript echo plugin: build.sh OUT.wasm
# Needs asc (npm i assemblyscript@0.28.20) and wasmsock-componentize
# (cargo build -p wasmsock-componentize) on PATH.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT.wasm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$here" && asc echo.ts --runtime stub --use abort=echo/abort -O3 -o "$work/core.wasm")
handler=wasmsock:plugin/handler@0.1.0
wasmsock-componentize component "$work/core.wasm" --wit "$here/../../wit" \
  --rename-export "on_connect=$handler#on-connect" \
  --rename-export "on_message=$handler#on-message" \
  --rename-export "on_disconnect=$handler#on-disconnect" -o "$out"
