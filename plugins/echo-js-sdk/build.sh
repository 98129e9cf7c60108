#!/usr/bin/env bash
# Build echo-js-sdk.wasm next to this script (or at the path given), with
# echo-js-sdk.toml beside it holding the routes routing.js declares:
#   ./build.sh [OUT.wasm]
# It builds whatever consumers.js, routing.js and other modules this folder
# holds, on wasmsock's JavaScript SDK: sdk/ here (`wasmsock new` writes it)
# or the folder WASMSOCK_JS_SDK names. Needs Node.js and componentize-js
# 0.23.0 (npm install @bytecodealliance/componentize-js@0.23.0).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/echo-js-sdk.wasm}
sdk=${WASMSOCK_JS_SDK:-$here/sdk}
[[ -f $sdk/build.sh ]] || {
  echo "build.sh: the wasmsock JavaScript SDK is not in $sdk: \`wasmsock new NAME --lang js\`" >&2
  echo "          writes it there; or set WASMSOCK_JS_SDK to its folder" >&2
  exit 1
}
exec bash "$sdk/build.sh" "$here" echo-js-sdk "$out"
