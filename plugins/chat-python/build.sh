#!/usr/bin/env bash
# Build chat-python.wasm next to this script (or at the path given), with
# chat-python.toml beside it holding the routes routing.py declares:
#   ./build.sh [OUT.wasm]
# It builds whatever consumers.py, routing.py and other modules this folder
# holds, on wasmsock's Channels SDK: sdk/ here (`wasmsock new` writes it)
# or the folder WASMSOCK_PYTHON_SDK names. Needs python3 and
# componentize-py 0.25.1 (pip install componentize-py==0.25.1).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/chat-python.wasm}
sdk=${WASMSOCK_PYTHON_SDK:-$here/sdk}
[[ -f $sdk/build.sh ]] || {
  echo "build.sh: the wasmsock Python SDK is not in $sdk: \`wasmsock new NAME --lang python\`" >&2
  echo "          writes it there; or set WASMSOCK_PYTHON_SDK to its folder" >&2
  exit 1
}
exec bash "$sdk/build.sh" "$here" chat-python "$out"
