#!/usr/bin/env bash
# Starts the studio: installs what is missing, builds the app with Trunk, and serves it on
# http://127.0.0.1:8080/ (rebuilding when the sources change). Stop it with Ctrl-C.
#
#   scripts/studio.sh                  debug build (compiles fastest)
#   scripts/studio.sh --release        the small release build (the `web` profile)
#   scripts/studio.sh --port 9000      another port (or PORT=9000 scripts/studio.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${PORT:-8080}"
release=()

while [ $# -gt 0 ]; do
  case "$1" in
    --release) release=(--release) ;;
    --port)
      [ $# -ge 2 ] || { echo "studio.sh: --port needs a number" >&2; exit 2; }
      port="$2"
      shift
      ;;
    --port=*) port="${1#--port=}" ;;
    -h | --help)
      sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "studio.sh: unknown option '$1' (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done

if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  echo "studio.sh: '$port' is not a port number" >&2
  exit 2
fi

"$ROOT/scripts/setup.sh"

cd "$ROOT"
echo "ajuste studio: http://127.0.0.1:$port/ (first build takes a minute or two; Ctrl-C stops)"
exec trunk serve "${release[@]}" --address 127.0.0.1 --port "$port"
