#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install ramkit with its pinned dependencies.
# Usage: bash scripts/setup.sh            (idempotent; re-runs pip only when pyproject.toml changed)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.ramkit-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! .venv/bin/python -c "import ramkit" 2>/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import ramkit, torch, torchvision, timm, segmentation_models_pytorch, monai" \
    || { echo "setup: ramkit's dependencies failed to install" >&2; exit 1; }
  touch "$stamp"
fi
