#!/usr/bin/env bash
# Build every example plugin in plugins/ for wasm32-wasip2 and copy each
# component to OUT/NAME.wasm (default: plugins/, the folder `wasmsock serve`
# serves), with its manifest plugins/NAME/NAME.toml as OUT/NAME.toml when it
# has one. Copies are atomic renames, so a running server hot-loads each one
# exactly once (the manifest first, so the component loads with it).
#
#   scripts/build-plugins.sh [OUT]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/plugins}
target=$root/target/wasm

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "build-plugins: installing the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2
fi

CARGO_TARGET_DIR=$target cargo build --release --target wasm32-wasip2 \
  --manifest-path "$root/plugins/Cargo.toml"

mkdir -p "$out"
for manifest in "$root"/plugins/*/Cargo.toml; do
  crate=$(basename "$(dirname "$manifest")")
  wasm=$target/wasm32-wasip2/release/${crate//-/_}.wasm
  [[ -f $wasm ]] || { echo "build-plugins: $wasm was not produced" >&2; exit 1; }
  manifest_src=$root/plugins/$crate/$crate.toml
  if [[ -f $manifest_src ]]; then
    cp "$manifest_src" "$out/.$crate.toml.tmp"
    mv "$out/.$crate.toml.tmp" "$out/$crate.toml"
  fi
  cp "$wasm" "$out/.$crate.wasm.tmp"
  mv "$out/.$crate.wasm.tmp" "$out/$crate.wasm"
  echo "build-plugins: $out/$crate.wasm ($(stat -c %s "$out/$crate.wasm") bytes)" >&2
done
