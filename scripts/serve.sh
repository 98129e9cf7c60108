#!/usr/bin/env bash
# Build the host and the example plugins, then serve them:
# ws://127.0.0.1:8080/echo echoes every message. Extra arguments go to
# `wasmsock serve` (e.g. --listen 127.0.0.1:9000).
#
#   scripts/serve.sh [wasmsock serve options]
#
# WASMSOCK_PROFILE=dev serves a debug build instead of the release one (CI's
# smoke test does, to reuse the test build rather than compile the host a
# third time).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/scripts/profile.sh"
"$root/scripts/build-plugins.sh"
cargo build --profile "$profile" -p wasmsock --manifest-path "$root/Cargo.toml"
has_listen=0
for a in "$@"; do [[ $a == --listen* ]] && has_listen=1; done
args=(--plugins "$root/plugins")
(( has_listen )) || args+=(--listen 127.0.0.1:8080)
exec "$bin_dir/wasmsock" serve "${args[@]}" "$@"
