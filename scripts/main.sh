#!/usr/bin/env bash
# Install ramkit (scripts/setup.sh), run the main job `ramkit bench OUT` (default OUT=runs/bench), then
# `ramkit analyze` of the shipped examples (4 real RAM-W600 wrists, 2 visits of a synthetic hand) with the models
# the bench just trained; prints where the report is.
# Usage: bash scripts/main.sh [OUT] [--quick] [other `ramkit bench` options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=runs/bench
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  out=$1
  shift
fi
.venv/bin/ramkit bench "$out" "$@"
# exit status 1 = some example failed (each failure is one line above and a row in results.csv)
rc=0
.venv/bin/ramkit analyze examples/real-wrists examples/synthetic-hands --models "$out" --out "$out/analyze" || rc=$?
echo "analysis report: $out/analyze/report.html (per radiograph: $out/analyze/<name>/result.json, overlay.png)"
exit "$rc"
