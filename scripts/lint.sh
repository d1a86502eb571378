#!/usr/bin/env bash
# Lint (pyflakes, pycodestyle, import order, pyupgrade, bugbear) and format check with ruff; config in pyproject.toml.
# Usage: scripts/lint.sh [--fix]   (--fix applies the safe fixes and formats the tree)
set -euo pipefail
cd "$(dirname "$0")/.."
RUFF=.venv/bin/ruff
[[ -x $RUFF ]] || { echo "[lint] $RUFF is missing: run scripts/setup.sh --no-train" >&2; exit 2; }
if [[ "${1:-}" == "--fix" ]]; then
  "$RUFF" check --fix .
  "$RUFF" format .
else
  "$RUFF" check .
  "$RUFF" format --check .
fi
