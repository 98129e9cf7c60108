#!/usr/bin/env bash
# Install what tests/console.rs drives Chromium with: playwright-core, pinned,
# into target/toolchains/npm/playwright-core (as scripts/plugins.sh installs
# its npm tools). Its install scripts are skipped: no browser is downloaded,
# the test uses Debian's /usr/bin/chromium (apt-get install chromium).
# Does nothing when that version is already there.
#
#   tests/console/install.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
version=1.65.1
dir=$root/target/toolchains/npm/playwright-core
have=$(node -p "require('$dir/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
[[ $have == "$version" ]] && exit 0
command -v npm >/dev/null || { echo "console: npm is missing (Debian: apt-get install nodejs npm)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"
echo '{"private": true}' >"$dir/package.json"
npm install --prefix "$dir" --save-exact --ignore-scripts --no-audit --no-fund --loglevel=error "playwright-core@$version" >/dev/null
echo "console: installed playwright-core $version into $dir" >&2
