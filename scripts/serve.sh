#!/usr/bin/env bash
# Build the host and the example plugins, then serve them:
# ws://127.0.0.1:8080/echo echoes every message. The console (the admin
# listener) is on a free loopback port: the first stdout line is
# `listening on ADDR`, the second `console on http://127.0.0.1:PORT/`.
# Extra arguments go to `wasmsock serve` (e.g. --listen 127.0.0.1:9000,
# --admin 127.0.0.1:9090).
#
#   scripts/serve.sh [wasmsock serve options]
#
# WASMSOCK_PROFILE=dev serves a debug build instead of the release one (CI's
# smoke test does: built with the test build's features, see
# scripts/profile.sh, it reuses the tests' build and compiles nothing).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/profile.sh"
"$root/scripts/build-plugins.sh"
cargo build --profile "$profile" "${select_host[@]}" --manifest-path "$root/Cargo.toml"
has_listen=0 has_admin=0
for a in "$@"; do
  [[ $a == --listen* ]] && has_listen=1
  [[ $a == --admin* ]] && has_admin=1
done
args=(--plugins "$root/plugins")
(( has_listen )) || args+=(--listen 127.0.0.1:8080)
# A free port: two servers side by side (README) each get their own.
(( has_admin )) || args+=(--admin 127.0.0.1:0)
exec "$bin_dir/wasmsock" serve "${args[@]}" "$@"
