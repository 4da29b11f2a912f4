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
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}" AJUSTE_NO_PROGRESS=1

step "setup"
if [ "$quick" -eq 1 ]; then scripts/setup.sh; else scripts/setup.sh --browser; fi

step "format"
cargo fmt --all -- --check

step "lint (native)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "tests (native)"
cargo test --locked --workspace

if [ "$quick" -eq 0 ]; then
  step "lint (wasm32: the studio, the training engine and its worker)"
  cargo clippy --locked -p ajuste-web --target wasm32-unknown-unknown -- -D warnings
  cargo clippy --locked -p ajuste-trainer --no-default-features --features webgpu \
    --target wasm32-unknown-unknown -- -D warnings
  cargo clippy --locked -p ajuste-train-worker --target wasm32-unknown-unknown -- -D warnings

  step "browser tests (headless Chromium)"
  tests/browser/run.sh --debug
fi

step "all tests passed"
