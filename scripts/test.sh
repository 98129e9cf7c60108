#!/usr/bin/env bash
# Run every test: unit tests, and integration tests that start the real
# server on 127.0.0.1 port 0 with real plugins (built on first use).
#
#   scripts/test.sh [cargo test options]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "test: installing the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2
fi
cd "$root"
exec cargo test --workspace "$@"
