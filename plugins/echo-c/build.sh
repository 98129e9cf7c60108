#!/usr/bin/env bash
# Build echo-c.wasm next to this script (or at the path given):
#   ./build.sh [OUT.wasm]
# Needs
# - clang with a wasm32 target and wasi-libc (Debian/Ubuntu, as root:
#   apt-get install clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc);
#   CC picks another clang, WASI_SYSROOT another wasi-libc sysroot (default /usr);
# - wasmsock-componentize on PATH, or its path in WASMSOCK_COMPONENTIZE: from a
#   clone of the wasmsock repository, `cargo install --path sdk/componentize`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/echo-c.wasm}
cc=${CC:-clang-19}
sysroot=${WASI_SYSROOT:-/usr}
wc=${WASMSOCK_COMPONENTIZE:-wasmsock-componentize}
command -v "$cc" >/dev/null || {
  echo "build.sh: $cc not found; install it with: apt-get install clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc" >&2
  exit 1
}
command -v "$wc" >/dev/null || {
  echo "build.sh: wasmsock-componentize not found; from a clone of the wasmsock repository run" >&2
  echo "          cargo install --path sdk/componentize   (or set WASMSOCK_COMPONENTIZE=/path/to/wasmsock-componentize)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$wc" bindgen-c --wit "$here/wit" --out-dir "$work"
flags=(--target=wasm32-wasi "--sysroot=$sysroot" -Wall -Wextra -Werror -I "$work")
# Compile with -O2 but link without -O: clang runs wasm-opt on the linked
# output when it finds one on PATH, and that step fails on this module.
"$cc" "${flags[@]}" -O2 -c "$here/plugin.c" -o "$work/plugin.o"
"$cc" "${flags[@]}" -O2 -Wno-unused-parameter -c "$work/consumer.c" -o "$work/consumer.o"
"$cc" --target=wasm32-wasi "--sysroot=$sysroot" -mexec-model=reactor -s \
  "$work/plugin.o" "$work/consumer.o" "$work/consumer_component_type.o" -o "$work/core.wasm" || {
  echo "build.sh: linking failed; is wasi-libc installed? (apt-get install lld-19 libclang-rt-19-dev-wasm32 wasi-libc)" >&2
  exit 1
}
# The module targets WASI preview 1 as a reactor; this step adds the adapter
# to preview 2 and makes it a component.
"$wc" component "$work/core.wasm" -o "$out"
echo "build.sh: built $out"
