#!/usr/bin/env bash
# Build the C echo plugin: build.sh OUT.wasm
# Needs clang with wasm32 support and wasi-libc
# (apt-get install clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc) and
# wasmsock-componentize (cargo build -p wasmsock-componentize) on PATH.
# The module is built for WASI preview 1 as a reactor; the component step
# adds the wasi_snapshot_preview1 reactor adapter.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT.wasm}
cc=${CC:-clang-19}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wasmsock-componentize bindgen-c --wit "$here/../../wit" --out-dir "$work"
flags=(--target=wasm32-wasi --sysroot=/usr -Wall -Wextra -Werror -I "$work")
# Compile with -O2 but link without -O: clang runs wasm-opt on the linked
# output when it finds one on PATH, and that step fails on this module.
"$cc" "${flags[@]}" -O2 -c "$here/echo.c" -o "$work/echo.o"
"$cc" "${flags[@]}" -O2 -Wno-unused-parameter -c "$work/consumer.c" -o "$work/consumer.o"
"$cc" --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -s \
  "$work/echo.o" "$work/consumer.o" "$work/consumer_component_type.o" -o "$work/core.wasm"
wasmsock-componentize component "$work/core.wasm" -o "$out"
