#!/usr/bin/env bash
# Installs what building the studio needs, and only what is missing. Safe to run again: when
# everything is present it checks versions and exits within seconds, without network access.
#
#   scripts/setup.sh            Rust side: wasm32 target, trunk, wasm-bindgen-cli
#   scripts/setup.sh --browser  also Debian's chromium and tests/browser's node packages
#
# Nothing here downloads a browser build or wasm-opt: Chromium comes from apt, playwright-core
# drives it, and wasm-opt is turned off in index.html.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRUNK_REQ="~0.21"      # trunk 0.22 needs rustc >= 1.96
TRUNK_PREFIX="0.21."

browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) browser=1 ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "setup.sh: unknown option '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { printf 'setup: %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif have sudo; then
    sudo "$@"
  else
    echo "setup: '$*' needs root and sudo is not installed" >&2
    return 1
  fi
}

# The wasm-bindgen version Cargo.lock resolved; the CLI must match it exactly or the generated
# JS glue and the wasm disagree.
lock_version() {
  awk -v name="$1" '
    $0 == "name = \"" name "\"" { found = 1; next }
    found && /^version = / { gsub(/"/, "", $3); print $3; exit }
  ' "$ROOT/Cargo.lock"
}

setup_rust() {
  if ! have cargo || ! have rustup; then
    echo "setup: cargo and rustup are required (https://rustup.rs)" >&2
    exit 1
  fi
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi

  if ! have trunk || [[ "$(trunk --version | awk '{print $2}')" != "$TRUNK_PREFIX"* ]]; then
    say "installing trunk $TRUNK_REQ (a few minutes)"
    cargo install --quiet --locked trunk --version "$TRUNK_REQ"
  fi

  local want
  want="$(lock_version wasm-bindgen)"
  if [ -z "$want" ]; then
    echo "setup: no wasm-bindgen in $ROOT/Cargo.lock; run 'cargo generate-lockfile' first" >&2
    exit 1
  fi
  if ! have wasm-bindgen || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (a few minutes)"
    # Not --locked: its lock file pins a webpki-roots release the registry no longer serves.
    cargo install --quiet --force wasm-bindgen-cli --version "=$want"
  fi
  local trunk_tool
  trunk_tool="$(awk -F'"' '/^wasm_bindgen *=/ { print $2 }' "$ROOT/Trunk.toml")"
  if [ "$trunk_tool" != "$want" ]; then
    echo "setup: Trunk.toml [tools] wasm_bindgen is '$trunk_tool' but Cargo.lock has $want; make them equal" >&2
    exit 1
  fi
}

setup_browser() {
  if ! have chromium; then
    say "installing chromium (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
      || { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  fi
  if ! have node || ! have npm; then
    echo "setup: node and npm are required for the browser tests" >&2
    exit 1
  fi
  local dir="$ROOT/tests/browser"
  # npm writes node_modules/.package-lock.json on install; when it is newer than
  # package-lock.json the installed packages are current.
  if [ ! -f "$dir/node_modules/.package-lock.json" ] \
    || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "installing node packages for tests/browser (npm ci)"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}

setup_rust
if [ "$browser" -eq 1 ]; then
  setup_browser
fi
