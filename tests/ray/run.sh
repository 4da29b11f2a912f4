#!/usr/bin/env bash
# The Ray dedup test: `ajuste_ray.dedup` on a local 2-CPU Ray cluster must keep exactly the records
# `ajuste data dedup --near` keeps (100k generated records with planted duplicates, awkward JSONL,
# Parquet). This is the README's second test command (CI's time is too tight for Ray).
#
#   tests/ray/run.sh                 build, install, run the tests
#   tests/ray/run.sh --bench         also the benchmark: records/s local vs Ray on 1M records
#   tests/ray/run.sh -- PYTEST_ARGS  extra pytest arguments (e.g. -- -k parquet)
#
# Creates the venv $AJUSTE_RAY_VENV (default /opt/pyray) if missing and installs only the packages
# it lacks (ray[data], pyarrow, polars, numpy, pytest, maturin from PyPI); builds the `ajuste`
# binary (release) and the ajuste_py wheel (maturin, abi3 for CPython >= 3.11), installs the wheel
# and puts the driver (python/) on the venv's path, then runs pytest on tests/ray.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
bench=0
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=1 ;;
    --) shift; pytest_args=("$@"); break ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

started=$SECONDS
step() { printf '\n==> %s (%ss)\n' "$*" "$((SECONDS - started))"; }
VENV="${AJUSTE_RAY_VENV:-/opt/pyray}"
PY="$VENV/bin/python"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WHEELS="$TARGET/wheels"

step "venv $VENV"
if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
missing=()
# package spec : module that proves it is installed
for spec in "ray[data]:ray.data" "pyarrow:pyarrow" "polars:polars" "numpy:numpy" \
  "pytest:pytest" "maturin:maturin"; do
  "$PY" -c "import ${spec##*:}" 2>/dev/null || missing+=("${spec%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  "$PY" -m pip install -q "${missing[@]}"
fi

step "ajuste (release)"
cargo build --release --locked -p ajuste-trainer --bin ajuste

step "ajuste_py wheel (maturin)"
rm -f "$WHEELS"/ajuste_py-*.whl
"$VENV/bin/maturin" build --release --locked -q -i "$PY" -m py/Cargo.toml -o "$WHEELS"
"$PY" -m pip install -q --force-reinstall --no-deps "$WHEELS"/ajuste_py-*.whl
# The driver is pure Python: put python/ on the venv's path (a .pth file) rather than building it.
"$PY" -m pip uninstall -q -y ajuste-ray 2>/dev/null || true
purelib="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$ROOT/python" >"$purelib/ajuste_ray_source.pth"

step "tests (local Ray cluster)"
export AJUSTE_BIN="$TARGET/release/ajuste"
# Ray's own workers log to files; keep its driver quiet about progress.
export RAY_DATA_DISABLE_PROGRESS_BARS=1
status=0
"$PY" -m pytest -q -p no:cacheprovider tests/ray/test_ray_dedup.py "${pytest_args[@]}" || status=$?

if [ "$status" -eq 0 ] && [ "$bench" -eq 1 ]; then
  step "benchmark (1M records)"
  "$PY" tests/ray/bench_ray_dedup.py --workdir "$TARGET/ray-bench"
fi
step "done"
exit "$status"
