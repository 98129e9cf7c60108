#!/usr/bin/env bash
# Run every test: unit tests, and integration tests that start the real
# server on 127.0.0.1 port 0 with real plugins (the Rust ones built on first
# use; the other languages' echo plugins by scripts/plugins.sh --install,
# which installs their toolchains when missing and skips unchanged ones).
#
#   scripts/test.sh [cargo test options]
#
# The integration tests are one binary (tests/main.rs, a module per area);
# one module alone: cargo test -p wasmsock --test integration hot_reload::
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "test: installing the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2
fi
cd "$root"
locked=()
for a in "$@"; do [[ $a == --locked ]] && locked=(--locked); done
"$root/scripts/plugins.sh" --install "${locked[@]}"
exec cargo test --workspace "$@"
