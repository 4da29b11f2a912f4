#!/usr/bin/env bash
# Builds the studio with Trunk into dist/ and runs the browser tests against it in headless
# Chromium. Screenshots of every page land in target/browser-artifacts/. The flow test also runs
# the command line, target/debug/ajuste (cargo build -p ajuste-trainer).
#
#   tests/browser/run.sh                  release build (what users get), then the tests
#   tests/browser/run.sh --debug          debug build: compiles faster, runs slower
#   tests/browser/run.sh --no-build       test whatever is in dist/ now
#   tests/browser/run.sh -- ARGS          pass ARGS to `node --test` (e.g. --test-name-pattern=sample)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build=(--release)
node_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) build=() ;;
    --no-build) build=(skip) ;;
    --) shift; node_args=("$@"); break ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

"$ROOT/scripts/setup.sh" --browser

cd "$ROOT"
if [ "${build[0]:-}" != skip ]; then
  echo "browser tests: building the studio into dist/"
  trunk build "${build[@]}"
fi

rm -rf "$ROOT/target/browser-artifacts"
cd "$ROOT/tests/browser"
node --test --test-concurrency=1 --test-timeout=900000 "${node_args[@]}" studio.test.mjs flow.test.mjs train.test.mjs
echo "browser tests: screenshots in target/browser-artifacts/"
