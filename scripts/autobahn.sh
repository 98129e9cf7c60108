#!/usr/bin/env bash
# RFC 6455 conformance: run the Autobahn|Testsuite fuzzing client against the
# echo plugin served by a release build of wasmsock on 127.0.0.1
# (WASMSOCK_PROFILE=dev: a debug build, as CI runs it).
#
#   scripts/autobahn.sh [OUTDIR]      (default OUTDIR: target/autobahn)
#
# Sections 1-7, 9 and 10 must pass (OK, NON-STRICT or INFORMATIONAL);
# sections 12 and 13 test permessage-deflate, which wasmsock declines, so
# they must come back UNIMPLEMENTED. Prints one summary line
#   autobahn: N passed, M failed, U unimplemented (of T cases)
# and exits 1 if any case failed. The suite is Python 2.7 code: it is
# installed into a virtualenv made from a Python 2.7 interpreter (PYTHON2,
# or python2.7 on PATH, or pyenv's 2.7.x), under target/autobahn-venv.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$root/target/autobahn}" && cd "${1:-$root/target/autobahn}" && pwd)
venv=$root/target/autobahn-venv
version=25.10.1

python2() {
  if [[ -n ${PYTHON2:-} ]]; then echo "$PYTHON2"; return; fi
  # pyenv's shims answer `command -v` even when the version is not selected.
  if python2.7 -c 'import sys' >/dev/null 2>&1; then command -v python2.7; return; fi
  local p
  for p in "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/2.7*/bin/python2.7; do
    [[ -x $p ]] && { echo "$p"; return; }
  done
}

if ! "$venv/bin/wstest" --autobahnversion 2>/dev/null | grep -q "$version"; then
  py2=$(python2)
  [[ -n $py2 ]] || { echo "autobahn: no Python 2.7 interpreter (set PYTHON2)" >&2; exit 2; }
  echo "autobahn: installing autobahntestsuite $version into $venv" >&2
  rm -rf "$venv" "$venv-tools"
  "$py2" -m pip install -q --disable-pip-version-check --target "$venv-tools" 'virtualenv==20.15.1'
  PYTHONPATH=$venv-tools "$py2" -m virtualenv -q "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "autobahntestsuite==$version"
fi

# Only the Rust plugins: the suite talks to /echo, and the Python and
# JavaScript ones would take the server minutes to compile at start.
"$root/scripts/build-plugins.sh" --rust-only "$out/plugins" 2>/dev/null
. "$root/scripts/profile.sh"
cargo build -q --profile "$profile" "${select_host[@]}" --manifest-path "$root/Cargo.toml"

log=$out/server.log
# The fuzzing client opens hundreds of connections in quick succession from
# one address: the per-address limits are not what it tests.
printf '[limits]\nmax_connections_per_ip = 0\nhandshake_rate_per_ip = 0\n' >"$out/wasmsock.toml"
RUST_LOG=warn "$bin_dir/wasmsock" serve --plugins "$out/plugins" \
  --config "$out/wasmsock.toml" --listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 1 200); do
  addr=$(sed -n 's/^listening on //p' "$log" | head -n1)
  [[ -n $addr ]] && break
  sleep 0.1
done
[[ -n $addr ]] || { cat "$log"; echo "autobahn: the server did not start" >&2; exit 2; }

cat >"$out/spec.json" <<JSON
{"outdir": "$out/reports", "servers": [{"agent": "wasmsock", "url": "ws://$addr/echo"}],
 "cases": ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*", "12.*", "13.*"],
 "exclude-cases": [], "exclude-agent-cases": {}, "options": {"failByDrop": false}}
JSON
rm -rf "$out/reports"
started=$SECONDS
(cd "$out" && timeout 1800 "$venv/bin/wstest" -m fuzzingclient -s "$out/spec.json") \
  >"$out/wstest.log" 2>&1 || { tail -20 "$out/wstest.log"; echo "autobahn: wstest failed" >&2; exit 2; }
kill -0 $pid 2>/dev/null || { cat "$log"; echo "autobahn: the server died during the run" >&2; exit 1; }

python3 - "$out/reports/index.json" "$(( SECONDS - started ))" <<'PY'
import collections, json, sys
results = json.load(open(sys.argv[1]))["wasmsock"]
passing = {"OK", "NON-STRICT", "INFORMATIONAL"}
counts = collections.Counter()
failed, unimplemented = [], 0
for case, r in results.items():
    section = case.split(".")[0]
    behavior = r["behavior"]
    counts[behavior] += 1
    if section in ("12", "13"):
        # permessage-deflate: declined, so every case must be UNIMPLEMENTED.
        if behavior == "UNIMPLEMENTED":
            unimplemented += 1
        else:
            failed.append((case, behavior))
    elif behavior not in passing or r.get("behaviorClose") not in passing:
        failed.append((case, behavior + "/" + str(r.get("behaviorClose"))))
passed = len(results) - len(failed) - unimplemented
print("autobahn: %d passed, %d failed, %d unimplemented (of %d cases, %ss)"
      % (passed, len(failed), unimplemented, len(results), sys.argv[2]))
print("autobahn: behaviors " + ", ".join("%s=%d" % kv for kv in sorted(counts.items())))
if failed:
    key = lambda c: [int(x) for x in c[0].split(".")]
    print("autobahn: failed: " + " ".join("%s(%s)" % f for f in sorted(failed, key=key)))
sys.exit(1 if failed else 0)
PY
