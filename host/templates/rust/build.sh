#!/usr/bin/env bash
# Build {{name}}.wasm next to this script (or at the path given):
#   ./build.sh [OUT.wasm]
# Needs Rust (https://rustup.rs) with the wasm32-wasip2 target:
#   rustup target add wasm32-wasip2
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/{{name}}.wasm}
command -v cargo >/dev/null || {
  echo "build.sh: cargo not found; install Rust from https://rustup.rs, then: rustup target add wasm32-wasip2" >&2
  exit 1
}
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "build.sh: the wasm32-wasip2 target is missing; install it with: rustup target add wasm32-wasip2" >&2
  exit 1
fi
cargo build --release --target wasm32-wasip2 --manifest-path "$here/Cargo.toml"
target=${CARGO_TARGET_DIR:-$here/target}
cp "$target/wasm32-wasip2/release/plugin.wasm" "$out"
echo "build.sh: built $out"
