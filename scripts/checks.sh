#!/usr/bin/env bash
# House rules, as CI runs them (scripts/test.sh calls this before the test suite; .pre-commit-config.yaml runs the
# same tools): ruff lint, ruff format check, mypy on src/ against mypy-baseline.txt, the strict MkDocs build.
# Needs the dev and docs extras (RAMKIT_EXTRAS=test,dev,docs bash scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
echo "== ruff check"
$V/ruff check .
echo "== ruff format --check"
$V/ruff format --check .
echo "== mypy (src/, baseline mypy-baseline.txt)"
$V/python scripts/mypy_baseline.py
echo "== mkdocs build --strict"
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
NO_MKDOCS_2_WARNING=1 $V/mkdocs build --strict --quiet --site-dir "$site"
echo "== checks passed"
