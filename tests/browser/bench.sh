#!/usr/bin/env bash
# The studio on 100,000 conversations next to the native CLI on the same file (issue 4): builds
# the release studio and the release CLI, writes the planted ShareGPT file, and runs
# tests/browser/bench.mjs, which prints a table (stage | browser ms | native ms | ratio) and
# writes target/bench/studio.json. Figures only: nothing here passes or fails on a time.
#
#   tests/browser/bench.sh                   build both, 100,000 records, medians of 3 runs on each side
#   tests/browser/bench.sh --no-build        use the studio in $AJUSTE_BENCH_DIST and the CLI as built
#   tests/browser/bench.sh -- ARGS           pass ARGS to bench.mjs (e.g. --browser-runs 1)
#   tests/browser/bench.sh --train [-- ARGS] training tokens/s instead (issue 5): the micro model in
#                                            the studio (flex, WebGPU) next to `ajuste train` on the
#                                            CPU and wgpu, by bench-train.mjs (ARGS go to it)
#
# Environment: AJUSTE_BENCH_DIST (studio build, default /tmp/ajuste-bench-dist; never dist/),
# AJUSTE_BENCH_RECORDS (default 100000), AJUSTE_BENCH_DIR (where the data file goes, default
# target/bench).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIST="${AJUSTE_BENCH_DIST:-/tmp/ajuste-bench-dist}"
RECORDS="${AJUSTE_BENCH_RECORDS:-100000}"
DIR="${AJUSTE_BENCH_DIR:-$ROOT/target/bench}"
build=1
train=0
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --train) train=1 ;;
    --) shift; bench_args=("$@"); break ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

"$ROOT/scripts/setup.sh" --browser

cd "$ROOT"
if [ "$build" = 1 ]; then
  echo "bench: building the release studio into $DIST"
  trunk build --release --dist "$DIST"
  echo "bench: building the release CLI"
  if [ "$train" = 1 ]; then
    cargo build --release -p ajuste-trainer --features wgpu
  else
    cargo build --release -p ajuste-trainer
  fi
fi
AJUSTE="${CARGO_TARGET_DIR:-$ROOT/target}/release/ajuste"

if [ "$train" = 1 ]; then
  cd "$ROOT/tests/browser"
  exec node bench-train.mjs --ajuste "$AJUSTE" --dist "$DIST" "${bench_args[@]}"
fi

mkdir -p "$DIR"
DATA="$DIR/sharegpt-$RECORDS.jsonl"
# `bench data --write` is deterministic (seed 2026), so `bench data` in process, which bench.mjs
# also runs, times the very same records.
"$AJUSTE" bench data --records "$RECORDS" --write "$DATA"

cd "$ROOT/tests/browser"
node bench.mjs --file "$DATA" --records "$RECORDS" --ajuste "$AJUSTE" --dist "$DIST" \
  --out "$ROOT/target/bench/studio.json" "${bench_args[@]}"
