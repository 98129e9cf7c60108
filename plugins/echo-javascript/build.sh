#!/usr/bin/env bash
# Build echo-javascript.wasm next to this script (or at the path given):
#   ./build.sh [OUT.wasm]
# Needs Node.js and componentize-js 0.23.0 on PATH, or its path in
# COMPONENTIZE_JS:
#   apt-get install nodejs npm
#   npm install @bytecodealliance/componentize-js@0.23.0   (then node_modules/.bin on PATH)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/echo-javascript.wasm}
cjs=${COMPONENTIZE_JS:-componentize-js}
command -v node >/dev/null || {
  echo "build.sh: node not found; install Node.js (Debian: apt-get install nodejs npm)" >&2
  exit 1
}
command -v "$cjs" >/dev/null || {
  echo "build.sh: componentize-js not found; install it with: npm install @bytecodealliance/componentize-js@0.23.0" >&2
  echo "          (then put node_modules/.bin on PATH, or set COMPONENTIZE_JS=/path/to/componentize-js)" >&2
  exit 1
}
# `-d http fetch-event` leaves out the wasi:http imports the host does not offer.
"$cjs" --wit "$here/wit" -n consumer -d http fetch-event -o "$out" "$here/plugin.js"
echo "build.sh: built $out"
