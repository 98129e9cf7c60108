#!/usr/bin/env bash
# Build every example plugin in plugins/ for wasm32-wasip2 and copy each
# component to OUT/NAME.wasm (default: plugins/, the folder `wasmsock serve`
# serves), with its manifest plugins/NAME/NAME.toml as OUT/NAME.toml when it
# has one. Copies are atomic renames, so a running server hot-loads each one
# exactly once (the manifest first, so the component loads with it).
#
# The Python Channels plugins (plugins/seed-consumer, served on /ncdev/,
# and plugins/chat-python, the Channels tutorial's chat on
# /ws/chat/{room_name}/) are built too when componentize-py is installed
# (scripts/plugins.sh --install --lang python-sdk puts it under
# target/toolchains), and the JavaScript SDK's chat
# (plugins/chat-javascript, on /chat-js/{room}) when componentize-js is
# (--lang js-sdk), through scripts/plugins.sh, which rebuilds them only
# when their sources changed; otherwise each is skipped with a line saying
# how to install its toolchain.
#
#   scripts/build-plugins.sh [--rust-only] [OUT]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rust_only=0
if [[ ${1:-} == --rust-only ]]; then rust_only=1; shift; fi
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

((rust_only)) && exit 0
# Plugins on the Python and JavaScript SDKs (see the top of this file).
copy_built() {
  local name=$1 built=$root/target/plugins/$1
  if [[ -f $built.toml ]]; then
    cp "$built.toml" "$out/.$name.toml.tmp"
    mv "$out/.$name.toml.tmp" "$out/$name.toml"
  fi
  cp "$built.wasm" "$out/.$name.wasm.tmp"
  mv "$out/.$name.wasm.tmp" "$out/$name.wasm"
  echo "build-plugins: $out/$name.wasm ($(stat -c %s "$out/$name.wasm") bytes)" >&2
}
sdk_plugins() { # LANG WHAT NAME...
  local lang=$1 what=$2
  shift 2
  # Its lines go to stderr: stdout is the server's (its first line is the
  # address it listens on).
  if "$root/scripts/plugins.sh" --require-all --lang "$lang" >&2; then
    for name in "$@"; do copy_built "$name"; done
  else
    echo "build-plugins: skipped the $what plugins ($*): not built (why: above)" >&2
  fi
}
sdk_plugins python-sdk Python seed-consumer chat-python
sdk_plugins js-sdk JavaScript chat-javascript
