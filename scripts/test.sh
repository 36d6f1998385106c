#!/usr/bin/env bash
# Install ramkit (scripts/setup.sh) and run the whole test suite, slow tests included (plain `pytest` skips
# tests marked slow). Extra arguments go to pytest (e.g. -k metrics, or -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
set +e
.venv/bin/python -m pytest -q -m "slow or not slow" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "no tests collected" >&2; exit 1; fi
exit "$rc"
