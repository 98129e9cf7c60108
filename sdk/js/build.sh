#!/usr/bin/env bash
# Build a folder of JavaScript consumers (consumers.js, routing.js, other
# modules) into a wasmsock plugin on this SDK:
#   build.sh SRC NAME OUT.wasm
# writes OUT.wasm and, when there are routes to declare (routing.js) or
# SRC/plugin.toml has settings, OUT.toml beside it: copy both into the
# server's plugins folder. The WIT is SRC/wit.
# Needs Node.js (18 or later) and componentize-js 0.23.0 on PATH, or its
# path in COMPONENTIZE_JS:
#   npm install @bytecodealliance/componentize-js@0.23.0   (then node_modules/.bin on PATH)
set -euo pipefail
(($# == 3)) || { echo "usage: build.sh SRC NAME OUT.wasm" >&2; exit 2; }
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$1" && pwd)
name=$2
out=$3
[[ $out == /* ]] || out=$PWD/$out
cjs=${COMPONENTIZE_JS:-componentize-js}
command -v node >/dev/null || {
  echo "build.sh: node not found; install Node.js (Debian: apt-get install nodejs npm)" >&2
  exit 1
}
cjs_path=$(command -v "$cjs") || {
  echo "build.sh: componentize-js not found; install it with: npm install @bytecodealliance/componentize-js@0.23.0" >&2
  echo "          (then put node_modules/.bin on PATH, or set COMPONENTIZE_JS=/path/to/componentize-js)" >&2
  exit 1
}
[[ -d $src/wit ]] || { echo "build.sh: $src/wit is missing: the WIT the plugin is built against" >&2; exit 1; }
# Build from copies: the folder's modules and the SDK side by side, with
# the entry module build.mjs writes.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node "$sdk/build.mjs" --src "$src" --name "$name" --work "$work" --manifest "${out%.wasm}.toml" --cjs "$cjs_path"
# componentize-js maps the folder it runs in to the plugin's /, where the
# entry's relative imports resolve. `-d http fetch-event` leaves out the
# wasi:http imports the host does not offer; stdio stays, so console.log
# reaches the server's log.
(cd "$work" && "$cjs_path" --wit "$src/wit" -n channel-consumer -d http fetch-event -o "$out" entry.js)
echo "build.sh: built $out"
