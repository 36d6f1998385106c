#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install ramkit with the exact versions of constraints.txt.
# Usage: bash scripts/setup.sh
#   RAMKIT_EXTRAS=test,dev,docs bash scripts/setup.sh   (extras to install; default: test)
# Idempotent: pip runs again only when pyproject.toml, constraints.txt or the extras changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${RAMKIT_EXTRAS:-test}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.ramkit-installed
key="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1) [$EXTRAS]"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$key" ] || ! .venv/bin/python -c "import ramkit" 2>/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$EXTRAS]" 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import ramkit, torch, torchvision, timm, segmentation_models_pytorch, monai" \
    || { echo "setup: ramkit's dependencies failed to install" >&2; exit 1; }
  echo "$key" > "$stamp"
fi
