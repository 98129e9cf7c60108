#!/usr/bin/env bash
# Build the Zig echo plugin: build.sh OUT.wasm
# Needs Zig (pip install ziglang==0.17.0; run as `python -m ziglang`, or set
# ZIG) and wasmsock-componentize (cargo build -p wasmsock-componentize) on PATH.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT.wasm}
read -r -a zig <<<"${ZIG:-python3 -m ziglang}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-$work/cache} ZIG_LOCAL_CACHE_DIR=${ZIG_LOCAL_CACHE_DIR:-$work/cache}
"${zig[@]}" build-exe "$here/echo.zig" -target wasm32-freestanding -fno-entry -rdynamic \
  -O ReleaseSmall -femit-bin="$work/core.wasm"
wasmsock-componentize component "$work/core.wasm" --wit "$here/../../wit" -o "$out"
