#!/usr/bin/env bash
# Install ramkit (scripts/setup.sh) and run the main job: `ramkit bench OUT` (default OUT=runs/bench).
# Usage: bash scripts/main.sh [OUT] [--quick] [other `ramkit bench` options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=runs/bench
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  out=$1
  shift
fi
exec .venv/bin/ramkit bench "$out" "$@"
