#!/usr/bin/env bash
# Install ramkit (scripts/setup.sh) and run the main job: `ramkit bench OUT` (default OUT=runs/bench).
# Extra arguments go to `ramkit bench` (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${1:-runs/bench}
shift || true
exec .venv/bin/ramkit bench "$out" "$@"
