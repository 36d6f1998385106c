#!/usr/bin/env bash
# Install ramkit (scripts/setup.sh, with the test, dev and docs extras), run the house-rule checks
# (scripts/checks.sh: ruff, ruff format, mypy baseline, mkdocs --strict) and the whole test suite, slow tests
# included (plain `pytest` skips tests marked slow). Extra arguments go to pytest (e.g. -k metrics, or
# -m "not slow"); RAMKIT_SKIP_CHECKS=1 skips the checks.
set -euo pipefail
cd "$(dirname "$0")/.."
RAMKIT_EXTRAS=test,dev,docs bash scripts/setup.sh
if [ "${RAMKIT_SKIP_CHECKS:-0}" != "1" ]; then
  bash scripts/checks.sh
fi
set +e
.venv/bin/python -m pytest -q -m "slow or not slow" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "no tests collected" >&2; exit 1; fi
exit "$rc"
