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
# The channel-layer tests start their own redis-server on a free port.
if ! command -v redis-server >/dev/null; then
  if ((EUID == 0)); then
    echo "test: installing redis-server" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server >/dev/null; }
  else
    echo "test: redis-server is missing and this is not root: run apt-get install -y redis-server" >&2
    exit 1
  fi
fi
# The console test drives Chromium through playwright-core; it skips, saying
# so, without node or /usr/bin/chromium (apt-get install chromium).
if command -v npm >/dev/null; then "$root/tests/console/install.sh"; fi
exec cargo test --workspace "$@"
