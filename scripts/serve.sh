#!/usr/bin/env bash
# Build the host and the example plugins, then serve them:
# ws://127.0.0.1:8080/echo echoes every message. Extra arguments go to
# `wasmsock serve` (e.g. --listen 127.0.0.1:9000).
#
#   scripts/serve.sh [wasmsock serve options]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/build-plugins.sh"
cargo build --release -p wasmsock --manifest-path "$root/Cargo.toml"
has_listen=0
for a in "$@"; do [[ $a == --listen* ]] && has_listen=1; done
args=(--plugins "$root/plugins")
(( has_listen )) || args+=(--listen 127.0.0.1:8080)
exec "$root/target/release/wasmsock" serve "${args[@]}" "$@"
