#!/usr/bin/env bash
# Runs every test of ajuste: formatting, lints (native and wasm32), unit, property, golden and
# end-to-end CLI tests, the wasm32 builds, and the studio in headless Chromium.
# This is the README's test command; CI's .ci/run calls it on a fresh clone.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the wasm32 builds and the browser tests
#
# Installs only what is missing (scripts/setup.sh). Reuses CARGO_TARGET_DIR between runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

started=$SECONDS
step() { printf '\n==> %s (%ss)\n' "$*" "$((SECONDS - started))"; }

# Exports what makes cargo run clippy-driver, with warnings denied, on the workspace's crates.
# CLIPPY_ARGS is how `cargo clippy` hands its `-- ARGS` to clippy-driver; a canary crate with a
# lint checks that this still works, so a toolchain that changed it fails here, loudly, instead
# of silently linting nothing.
lint_env() {
  local driver
  driver="$(rustc --print sysroot)/bin/clippy-driver"
  if [ ! -x "$driver" ]; then
    echo "test.sh: no clippy-driver in the toolchain; run: rustup component add clippy" >&2
    exit 1
  fi
  export RUSTC_WORKSPACE_WRAPPER="$driver"
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  local canary
  canary="$(mktemp -d)"
  mkdir -p "$canary/src"
  printf '[package]\nname = "canary"\nversion = "0.0.0"\nedition = "2024"\n[workspace]\n' >"$canary/Cargo.toml"
  printf 'pub fn len(v: &Vec<u8>) -> usize {\n    v.len()\n}\n' >"$canary/src/lib.rs"
  local said
  said="$(CARGO_TARGET_DIR="$canary/target" cargo build --offline --manifest-path "$canary/Cargo.toml" 2>&1 || true)"
  rm -rf "$canary"
  if ! grep -q "clippy::ptr_arg" <<<"$said"; then
    echo "test.sh: clippy-driver did not deny clippy::ptr_arg in a canary crate, so lints would not run:" >&2
    echo "$said" >&2
    exit 1
  fi
}
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}" AJUSTE_NO_PROGRESS=1

step "setup"
if [ "$quick" -eq 1 ]; then scripts/setup.sh; else scripts/setup.sh --browser; fi

step "format"
cargo fmt --all -- --check

# Clippy's lints (denied) run inside the real builds below: clippy-driver wraps rustc for the
# workspace's own crates, as `cargo clippy` does, but the crates are also compiled. A separate
# `cargo clippy` would first check every dependency, natively and for wasm32: about 12 of a cold
# run's minutes on two cores. Dependencies are built by plain rustc either way, so they are
# shared with `cargo build`.
lint_env
step "build, lint and run the tests (native; every target: lib, bins, tests, examples, benches once)"
cargo test --locked --workspace --all-targets
cargo test --locked --workspace --doc

if [ "$quick" -eq 0 ]; then
  step "build and lint the studio for wasm32 (the app, its worker, the training worker), browser tests"
  tests/browser/run.sh --debug
fi

step "all tests passed"
