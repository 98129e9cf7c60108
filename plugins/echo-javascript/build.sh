#!/usr/bin/env bash
# Build the JavaScript echo plugin: build.sh OUT.wasm
# Needs componentize-js on PATH (npm i @bytecodealliance/componentize-js@0.23.0).
# `-d http fetch-event` leaves out the wasi:http imports the host does not offer.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT.wasm}
componentize-js --wit "$here/../../wit" -n consumer -d http fetch-event \
  -o "$out" "$here/echo.js"
