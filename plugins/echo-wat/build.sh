#!/usr/bin/env bash
# Build the hand-written WAT echo plugin: build.sh OUT.wasm
# Needs wasmsock-componentize (cargo build -p wasmsock-componentize) on PATH;
# `wasm-tools parse echo.wat -o OUT.wasm` does the same.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT.wasm}
wasmsock-componentize wat "$here/echo.wat" -o "$out"
